//! The clients measured: the component in the wasmtime host, and the native client (the
//! component's own request building and parsing, compiled natively, over a pooled hyper
//! client: the practical limit).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use llm_core_host::types as host;
use std::sync::Arc;

const SYSTEM: &str = "You are a helpful assistant.";
const USER: &str = "Write one sentence about the sea.";

/// Texts per embeddings call, and the vector length the server answers with.
pub const EMBED_TEXTS: usize = 16;
pub const EMBED_DIMS: usize = 384;

/// The texts of one embeddings call: short sentences, as an agent's memory stores them.
fn embed_inputs() -> Vec<String> {
    (0..EMBED_TEXTS)
        .map(|i| format!("Note {i}: the user prefers short answers about the sea."))
        .collect()
}

fn host_request() -> host::ChatRequest {
    let mut r = host::ChatRequest::new(vec![
        host::Message::system(SYSTEM),
        host::Message::user(USER),
    ]);
    r.model = Some("m".into());
    r.sampling.max_tokens = Some(64);
    r.sampling.temperature = Some(0.7);
    r
}

#[derive(Clone)]
pub struct Native {
    http: HyperClient<HttpConnector, Full<Bytes>>,
    backend: Arc<aios_llm_core::config::Backend>,
    request: Arc<aios_llm_core::types::ChatRequest>,
}

impl Native {
    pub fn new(base_url: &str) -> Native {
        use aios_llm_core::types::*;
        let mut request = ChatRequest::new(vec![Message::system(SYSTEM), Message::user(USER)]);
        request.model = Some("m".into());
        request.sampling.temperature = Some(0.7);
        request.sampling.max_tokens = Some(64);
        let backend = aios_llm_core::config::Backend {
            name: "native".into(),
            kind: BackendKind::Vllm,
            base: aios_llm_core::url::BaseUrl::parse(base_url).expect("base URL"),
            api_key: None,
            models: vec![],
            weight: 1,
            legacy_guided_decoding: false,
        };
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Native {
            http: HyperClient::builder(TokioExecutor::new()).build(connector),
            backend: Arc::new(backend),
            request: Arc::new(request),
        }
    }

    async fn send(&self, stream: bool) -> hyper::Response<hyper::body::Incoming> {
        let body =
            aios_llm_core::wire::request::chat_body(&self.request, "m", &self.backend, stream)
                .expect("request body");
        let accept = if stream {
            "text/event-stream"
        } else {
            "application/json"
        };
        self.post("/chat/completions", body, accept).await
    }

    /// POSTs `body` to `path` under the API root, with the headers the component sends.
    async fn post(
        &self,
        path: &str,
        body: Vec<u8>,
        accept: &str,
    ) -> hyper::Response<hyper::body::Incoming> {
        let uri = format!(
            "{}{}",
            self.backend.base.origin(),
            self.backend.base.api_path(path)
        );
        let req = hyper::Request::post(uri)
            .header("authorization", self.backend.authorization())
            .header("content-type", "application/json")
            .header("accept", accept)
            .header("user-agent", "aios-llm-core-native-bench")
            .header("content-length", body.len())
            .body(Full::new(Bytes::from(body)))
            .expect("request");
        self.http.request(req).await.expect("native request")
    }

    pub async fn chat(&self) {
        use aios_llm_core::decode::answer::{DecodeOptions, Served, decode};
        use aios_llm_core::wire::completion::parse;
        let bytes = whole_body(self.send(false).await).await;
        let raw = parse(&bytes).expect("a completion");
        let served = Served {
            backend: "native",
            requested_model: "m",
            attempts: 1,
            earlier: &[],
        };
        let r = decode(
            raw,
            &DecodeOptions::for_request(&self.request),
            &mut aios_llm_core::decode::tool_calls::CountingIds::default(),
            &served,
        )
        .expect("decoded");
        assert!(r.content.is_some());
    }

    /// One embeddings call of [`EMBED_TEXTS`] texts: the component's body and parser.
    pub async fn embed(&self) {
        use aios_llm_core::wire::embeddings::{body, parse};
        let body = body(&embed_inputs(), "m", None);
        let bytes = whole_body(self.post("/embeddings", body, "application/json").await).await;
        let batch = parse(&bytes, EMBED_TEXTS, "native").expect("embeddings");
        assert_eq!(batch.vectors[0].len(), EMBED_DIMS);
    }

    pub async fn stream(&self) -> usize {
        use aios_llm_core::decode::answer::{DecodeOptions, Served};
        use aios_llm_core::types::StreamEvent;
        let mut body = self.send(true).await.into_body();
        let mut parser = aios_llm_core::wire::sse::SseParser::new();
        let mut assembler = aios_llm_core::decode::assembler::Assembler::new(
            DecodeOptions::for_request(&self.request),
        );
        let mut events = Vec::new();
        let mut count = 0;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.expect("frame").into_data() {
                parser.push(&data, &mut |d| assembler.on_data(d, &mut events));
                count += events
                    .iter()
                    .filter(|e| matches!(e, StreamEvent::Content(_)))
                    .count();
                events.clear();
            }
        }
        let served = Served {
            backend: "native",
            requested_model: "m",
            attempts: 1,
            earlier: &[],
        };
        assembler
            .finish(
                &served,
                &mut aios_llm_core::decode::tool_calls::CountingIds::default(),
                &mut events,
            )
            .expect("a complete stream");
        count
    }
}

/// One backend; responses up to 1 GiB (the long stream is ~36 MB, over the 16 MiB default).
pub fn bench_config(url: &str) -> host::ClientConfig {
    let mut c = host::ClientConfig::single(host::BackendKind::Vllm, url.to_string());
    c.max_response_bytes = Some(1 << 30);
    c
}

pub async fn component_chat(client: &llm_core_host::Client) {
    let r = client
        .chat(host_request())
        .await
        .map_err(|e| e.message)
        .expect("component chat");
    assert!(r.content.is_some());
}

pub async fn component_embed(client: &llm_core_host::Client) {
    let r = client
        .embed(host::EmbedRequest {
            inputs: embed_inputs(),
            model: Some("m".into()),
            dimensions: None,
            batch_size: None,
            timeout_ms: None,
        })
        .await
        .map_err(|e| e.message)
        .expect("component embed");
    assert_eq!(r.vectors.len(), EMBED_TEXTS);
}

pub async fn component_stream(client: &llm_core_host::Client) -> usize {
    use futures::StreamExt;
    let mut stream = client
        .chat_stream(host_request())
        .await
        .expect("component stream");
    let mut count = 0;
    while let Some(event) = stream.next().await {
        match event.map_err(|e| e.message).expect("stream event") {
            host::StreamEvent::Content(_) => count += 1,
            host::StreamEvent::Done(_) => break,
            _ => {}
        }
    }
    count
}

/// A response's whole body.
async fn whole_body(response: hyper::Response<hyper::body::Incoming>) -> Bytes {
    response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
}
