//! Which servers a command talks to: the `--base-url` flags (with `--backend`, `--api-key`,
//! `--legacy-guided-decoding`, `--routing`, `--timeout-ms`) or a `--config` file. Problems are told in
//! the terms the user wrote: a flag names the flag, a file its entries.

use crate::args::{Kind, Routing, Target};
use crate::config_file::{self, Skipped};
use crate::terminal::{self, for_stderr};
use llm_core_host::types::*;
use llm_core_host::{Client, LlmCore};
use std::path::PathBuf;

/// The base URL when neither `--base-url` nor `$LLM_CORE_BASE_URL` gives one (vLLM's).
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8000/v1";

/// The client configuration of a run, and where it came from.
pub struct Backends {
    pub config: ClientConfig,
    /// AIOS `config.yaml` entries of backends this core does not serve.
    pub skipped: Vec<Skipped>,
    /// The config file, when there is one (`None`: the flags).
    pub file: Option<PathBuf>,
}

impl std::fmt::Debug for Backends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backends")
            .field("config", &crate::secret::Redacted(&self.config))
            .field("skipped", &self.skipped)
            .field("file", &self.file)
            .finish()
    }
}

/// Reads the flags or the config file.
pub fn resolve(t: &Target) -> Result<Backends, Error> {
    if let Some(path) = &t.config {
        let mut loaded = config_file::load(path)?;
        if t.timeout_ms.is_some() {
            loaded.config.timeouts.total_ms = t.timeout_ms;
        }
        return Ok(Backends {
            config: loaded.config,
            skipped: loaded.skipped,
            file: Some(path.clone()),
        });
    }
    let mut urls = t.base_urls.clone();
    if urls.is_empty() {
        urls.push(std::env::var("LLM_CORE_BASE_URL").unwrap_or_else(|_| DEFAULT_BASE_URL.into()));
    }
    let kind = match t.kind() {
        Kind::Auto => BackendKind::Auto,
        Kind::Vllm => BackendKind::Vllm,
        Kind::Sglang => BackendKind::Sglang,
        Kind::Openai => BackendKind::OpenaiCompatible,
    };
    // An empty key (`LLM_CORE_API_KEY=`) means none; one with a line break would break the
    // request header.
    let api_key = t
        .api_key
        .as_ref()
        .map(|k| k.expose())
        .filter(|k| !k.is_empty());
    if api_key.is_some_and(|k| k.chars().any(char::is_control)) {
        return Err(Error::new(
            ErrorCode::InvalidConfig,
            "--api-key (or $LLM_CORE_API_KEY) contains a control character (a line break?); give the key alone",
        ));
    }
    let mut backends: Vec<BackendConfig> = Vec::with_capacity(urls.len());
    for url in urls {
        // Backends are named by host:port; two URLs on one server need distinct names.
        let name = backends
            .iter()
            .any(|b| authority(&b.base_url) == authority(&url))
            .then(|| url.clone());
        backends.push(BackendConfig {
            name,
            api_key: api_key.map(str::to_string),
            legacy_guided_decoding: t.legacy_guided_decoding.then_some(true),
            ..BackendConfig::new(kind, url)
        });
    }
    let mut config = ClientConfig::new(backends);
    config.timeouts.total_ms = t.timeout_ms;
    config.routing = t.routing.map(|r| match r {
        Routing::Sequential => RoutingStrategy::Sequential,
        Routing::LeastLoaded => RoutingStrategy::LeastLoaded,
        Routing::Priority => RoutingStrategy::Priority,
        Routing::Weighted => RoutingStrategy::Weighted,
        Routing::CacheAware => RoutingStrategy::CacheAware,
    });
    Ok(Backends {
        config,
        skipped: Vec::new(),
        file: None,
    })
}

/// `host:port` of a URL, as backends are named by default (for display and name clashes).
fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?', '#']).next().unwrap_or(rest)
}

impl Backends {
    /// Notes on stderr about the file's skipped entries (unless `quiet`).
    pub fn tell_skipped(&self, quiet: bool) {
        if quiet || self.skipped.is_empty() {
            return;
        }
        let list: Vec<String> = self.skipped.iter().map(Skipped::describe).collect();
        terminal::note(&format!(
            "note: {}: skipped llms.models entries of backends llm-core does not serve (it serves vllm and sglang): {}",
            self.shown_file(),
            for_stderr(&list.join(", "))
        ));
    }

    fn shown_file(&self) -> String {
        self.file
            .as_ref()
            .map_or_else(|| "the config".into(), |p| p.display().to_string())
    }

    /// A client of these backends. An invalid configuration built from flags is told as
    /// the flag that caused it.
    pub async fn open(&self, core: &LlmCore) -> Result<Client, Error> {
        match core.client(self.config.clone()).await {
            Err(e) if e.code == ErrorCode::InvalidConfig && self.file.is_none() => {
                Err(self.flag_error(core, e).await)
            }
            other => other,
        }
    }

    /// Which `--base-url` the component refused, found by opening each alone.
    async fn flag_error(&self, core: &LlmCore, whole: Error) -> Error {
        for backend in &self.config.backends {
            let alone = ClientConfig {
                backends: vec![backend.clone()],
                ..self.config.clone()
            };
            if let Err(e) = core.client(alone).await {
                // The component names the entry (`backends[0]: ...`); the user wrote a flag.
                let why = e
                    .message
                    .strip_prefix("backends[0]: ")
                    .unwrap_or(&e.message);
                return Error {
                    message: format!("--base-url {}: {why}", backend.base_url),
                    ..e
                };
            }
        }
        whole
    }

    /// One configuration per backend, each with that backend alone (names kept), for
    /// per-backend answers (`models`).
    pub fn each(&self) -> Vec<(String, ClientConfig)> {
        self.config
            .backends
            .iter()
            .map(|b| {
                let name = b
                    .name
                    .clone()
                    .unwrap_or_else(|| authority(&b.base_url).to_string());
                let alone = ClientConfig {
                    backends: vec![b.clone()],
                    ..self.config.clone()
                };
                (name, alone)
            })
            .collect()
    }

    /// What a call waits for, for the progress line: `127.0.0.1:8000`, `gpu-a or gpu-b`,
    /// `one of 5 backends`; with the model when one was named.
    pub fn waiting_for(&self, model: Option<&str>) -> String {
        let names: Vec<String> = self.each().into_iter().map(|(name, _)| name).collect();
        let servers = match names.len() {
            0..=3 => names.join(" or "),
            n => format!("one of {n} backends"),
        };
        match model.or(self.config.default_model.as_deref()) {
            Some(m) => format!("{servers} ({m})"),
            None => servers,
        }
    }

    /// An `unknown-model` error that also names the config.yaml entries that were skipped:
    /// the model asked for may be one of them.
    pub fn explain(&self, mut e: Error, model: Option<&str>) -> Error {
        if !matches!(e.code, ErrorCode::UnknownModel(_)) || self.skipped.is_empty() {
            return e;
        }
        let file = self.shown_file();
        let requested = model.or(self.config.default_model.as_deref());
        match self
            .skipped
            .iter()
            .find(|s| Some(s.model.as_str()) == requested)
        {
            Some(s) => {
                e.message = format!(
                    "{}; {file} lists `{}` under backend `{}`, which llm-core does not serve (only vllm and sglang)",
                    e.message, s.model, s.backend
                );
            }
            None => {
                let list: Vec<String> = self.skipped.iter().map(Skipped::describe).collect();
                e.message = format!(
                    "{}; skipped from {file} (backends llm-core does not serve): {}",
                    e.message,
                    list.join(", ")
                );
            }
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_keys() {
        let cli = <crate::args::Cli as clap::Parser>::try_parse_from([
            "llm-core",
            "models",
            "--api-key",
            "sk-flag-secret",
        ])
        .unwrap();
        let backends = resolve(cli.command.target()).unwrap();
        assert_eq!(
            backends.config.backends[0].api_key.as_deref(),
            Some("sk-flag-secret")
        );
        let shown = format!("{backends:?}");
        assert!(
            !shown.contains("sk-flag-secret") && shown.contains("<redacted>"),
            "{shown}"
        );
    }

    #[test]
    fn authorities() {
        assert_eq!(authority("http://127.0.0.1:8000/v1"), "127.0.0.1:8000");
        assert_eq!(authority("https://gpu-a/v1?x"), "gpu-a");
        assert_eq!(authority("gpu-a:8000"), "gpu-a:8000");
    }
}
