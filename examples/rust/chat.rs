//! One chat through the component: `cargo run --release -p aios-llm-core-cli --example chat`.
use llm_core_host::{HostOptions, LlmCore, types::*};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("LLM_CORE_BASE_URL").unwrap_or("http://127.0.0.1:8000/v1".into());
    let core = LlmCore::new(HostOptions::default())?; // the embedded component, compiled once
    let client = core
        .client(ClientConfig::single(BackendKind::Auto, url))
        .await?;
    let answer = client.chat(ChatRequest::user("Say hi")).await?;
    println!("{}", answer.content.unwrap_or_default());
    Ok(())
}
