//! A streamed chat: `cargo run --release -p aios-llm-core-cli --example stream`.
use futures::StreamExt;
use llm_core_host::{HostOptions, LlmCore, types::*};
use std::io::Write;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("LLM_CORE_BASE_URL").unwrap_or("http://127.0.0.1:8000/v1".into());
    let core = LlmCore::new(HostOptions::default())?;
    let client = core
        .client(ClientConfig::single(BackendKind::Auto, url))
        .await?;
    let mut stream = client
        .chat_stream(ChatRequest::user("Count to five"))
        .await?;
    while let Some(event) = stream.next().await {
        match event? {
            StreamEvent::Content(text) => {
                print!("{text}");
                std::io::stdout().flush()?;
            }
            StreamEvent::Done(response) => println!("\n{:?}", response.usage),
            _ => {} // reasoning, tool-call pieces, logprobs
        }
    }
    Ok(())
}
