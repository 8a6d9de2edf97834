//! What a call had received and where it went, for the errors the host itself raises (a
//! trap, a CPU or memory limit, the call-duration cap): the guest never returns from such a
//! call, so its own error record — backend, attempts, partial response — is rebuilt here
//! from what the host saw: the sandbox's log of the requests the call sent, and the stream
//! events already delivered to the caller. Nothing received is lost because the host, not
//! the guest, ended the call.

use crate::sandbox::origin_of;
use crate::types::{
    ChatResponse, ClientConfig, Error, InvalidToolCall, StreamEvent, TokenLogprob, ToolCall,
    ToolCallDelta,
};

/// What the sandbox saw of the current call: requests sent and the last URL requested.
#[derive(Clone, Debug, Default)]
pub(crate) struct CallLog {
    /// Requests the call sent (those the allowlist refused are not sent, so not counted).
    pub requests: u32,
    /// The URL of the last request sent.
    pub last_url: Option<String>,
}

/// The backend names of a client configuration, to name the backend a URL belongs to the
/// way the guest does (`backend-config.name`, else the base URL's `host:port`).
#[derive(Debug, Default)]
pub(crate) struct BackendNames {
    /// (origin, base path without trailing `/`, name)
    backends: Vec<(String, String, String)>,
}

impl BackendNames {
    pub fn new(config: &ClientConfig) -> BackendNames {
        let backends = config
            .backends
            .iter()
            .filter_map(|b| {
                let uri: http::Uri = b.base_url.trim().parse().ok()?;
                let origin = origin_of(&b.base_url)?;
                let name = match &b.name {
                    Some(n) => n.clone(),
                    None => uri.authority()?.as_str().to_ascii_lowercase(),
                };
                let path = uri.path().trim_end_matches('/').to_string();
                Some((origin, path, name))
            })
            .collect();
        BackendNames { backends }
    }

    /// The backend `url` was sent to: same origin, the longest base path that prefixes the
    /// URL's path (a `/metrics` probe outside the base path still names its backend).
    pub fn name_for(&self, url: &str) -> Option<String> {
        let origin = origin_of(url)?;
        let path = url
            .parse::<http::Uri>()
            .map(|u| u.path().to_string())
            .unwrap_or_default();
        self.backends
            .iter()
            .filter(|(o, _, _)| *o == origin)
            .max_by_key(|(_, base, _)| {
                let under = path == *base || path.starts_with(&format!("{base}/"));
                (under, base.len())
            })
            .map(|(_, _, name)| name.clone())
    }

    /// Sets the error's backend and attempts from the call's log (keeping what the guest
    /// already set, if it got that far).
    pub fn annotate(&self, error: &mut Error, log: &CallLog) {
        if error.backend.is_none() {
            error.backend = log.last_url.as_deref().and_then(|u| self.name_for(u));
        }
        error.attempts = error.attempts.max(log.requests);
    }
}

/// The events a stream delivered, assembled into the response they amount to so far.
#[derive(Debug, Default)]
pub(crate) struct Received {
    content: Option<String>,
    reasoning: Option<String>,
    /// Tool-call deltas merged per index, in order of first appearance.
    calls: Vec<(u32, Option<String>, Option<String>, String)>,
    logprobs: Vec<TokenLogprob>,
}

impl Received {
    pub fn push(&mut self, event: &StreamEvent) {
        match event {
            StreamEvent::Content(text) => self.content.get_or_insert_default().push_str(text),
            StreamEvent::Reasoning(text) => self.reasoning.get_or_insert_default().push_str(text),
            StreamEvent::ToolCall(delta) => self.tool_call(delta),
            StreamEvent::Logprobs(l) => self.logprobs.extend(l.iter().cloned()),
            StreamEvent::Done(_) => {}
        }
    }

    fn tool_call(&mut self, d: &ToolCallDelta) {
        let at = match self.calls.iter().position(|c| c.0 == d.index) {
            Some(i) => i,
            None => {
                self.calls.push((d.index, None, None, String::new()));
                self.calls.len() - 1
            }
        };
        let call = &mut self.calls[at];
        if d.id.is_some() {
            call.1.clone_from(&d.id);
        }
        if d.name.is_some() {
            call.2.clone_from(&d.name);
        }
        call.3.push_str(&d.arguments);
    }

    /// Whether anything arrived.
    pub fn is_empty(&self) -> bool {
        self.content.is_none() && self.reasoning.is_none() && self.calls.is_empty()
    }

    /// The partial response: the text and reasoning so far; tool calls whose arguments are
    /// a complete JSON object, the others (cut mid-arguments) as invalid tool calls.
    pub fn response(&self, model: &str, backend: &str, attempts: u32) -> ChatResponse {
        let mut tool_calls = Vec::new();
        let mut invalid_tool_calls = Vec::new();
        for (index, id, name, arguments) in &self.calls {
            let id = id.clone().unwrap_or_else(|| format!("call_{index}"));
            let name = name.clone().unwrap_or_default();
            match serde_json::from_str::<serde_json::Value>(arguments) {
                Ok(v) if v.is_object() => tool_calls.push(ToolCall {
                    id,
                    name,
                    arguments: arguments.clone(),
                }),
                _ => invalid_tool_calls.push(InvalidToolCall {
                    id,
                    name,
                    raw_arguments: arguments.clone(),
                    error: "the stream ended before the arguments were complete".into(),
                }),
            }
        }
        ChatResponse {
            id: None,
            content: self.content.clone(),
            reasoning: self.reasoning.clone(),
            tool_calls,
            invalid_tool_calls,
            finish_reason: None,
            usage: None,
            model: model.to_string(),
            backend: backend.to_string(),
            earlier_backends: Vec::new(),
            logprobs: self.logprobs.clone(),
            attempts,
        }
    }

    /// Puts the partial response on a host-raised error (unless the guest already set one).
    pub fn annotate(&self, error: &mut Error, model: &str) {
        if error.partial.is_none() && !self.is_empty() {
            let backend = error.backend.clone().unwrap_or_default();
            error.partial = Some(self.response(model, &backend, error.attempts));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{BackendConfig, BackendKind};

    #[test]
    fn urls_name_their_backend() {
        let mut named = BackendConfig::new(BackendKind::Vllm, "http://gpu:8000/proxy/v1");
        named.name = Some("big".into());
        let config = ClientConfig::new(vec![
            BackendConfig::new(BackendKind::Vllm, "http://127.0.0.1:8000/v1"),
            named,
            BackendConfig::new(BackendKind::Vllm, "http://gpu:8000/other/v1/"),
        ]);
        let names = BackendNames::new(&config);
        let name = |u: &str| names.name_for(u);
        assert_eq!(
            name("http://127.0.0.1:8000/v1/chat/completions").as_deref(),
            Some("127.0.0.1:8000")
        );
        assert_eq!(
            name("http://gpu:8000/proxy/v1/models").as_deref(),
            Some("big")
        );
        assert_eq!(
            name("http://gpu:8000/other/v1/chat/completions").as_deref(),
            Some("gpu:8000")
        );
        assert!(name("http://gpu:8000/metrics").is_some());
        assert_eq!(name("http://elsewhere:8000/v1"), None);
    }

    #[test]
    fn delivered_events_assemble() {
        let mut r = Received::default();
        assert!(r.is_empty());
        for e in [
            StreamEvent::Content("Hel".into()),
            StreamEvent::Reasoning("hm".into()),
            StreamEvent::Content("lo".into()),
            StreamEvent::ToolCall(ToolCallDelta {
                index: 0,
                id: Some("c0".into()),
                name: Some("f".into()),
                arguments: "{\"a\":".into(),
            }),
            StreamEvent::ToolCall(ToolCallDelta {
                index: 1,
                id: None,
                name: Some("g".into()),
                arguments: "{\"b\"".into(),
            }),
            StreamEvent::ToolCall(ToolCallDelta {
                index: 0,
                id: None,
                name: None,
                arguments: "1}".into(),
            }),
        ] {
            r.push(&e);
        }
        let p = r.response("m", "b", 2);
        assert_eq!(p.content.as_deref(), Some("Hello"));
        assert_eq!(p.reasoning.as_deref(), Some("hm"));
        assert_eq!(
            p.tool_calls,
            [ToolCall {
                id: "c0".into(),
                name: "f".into(),
                arguments: "{\"a\":1}".into()
            }]
        );
        assert_eq!(p.invalid_tool_calls.len(), 1);
        assert_eq!(p.invalid_tool_calls[0].name, "g");
        assert_eq!((p.backend.as_str(), p.attempts), ("b", 2));
    }
}
