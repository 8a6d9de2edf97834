//! API keys in the CLI's own types: `Debug` shows that a key is there, never the key.

use std::fmt;

/// A key as given on the command line, in the environment or in a config file.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The key itself, for the one place that sends it (the backend configuration).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl From<String> for Secret {
    fn from(key: String) -> Secret {
        Secret(key)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A client configuration shown with `Debug`, its keys replaced: the generated `Debug` of
/// `ClientConfig` prints them as they are.
pub struct Redacted<'a>(pub &'a llm_core_host::types::ClientConfig);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut config = self.0.clone();
        for b in &mut config.backends {
            if b.api_key.is_some() {
                b.api_key = Some("<redacted>".into());
            }
        }
        config.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_key() {
        let s = Secret::from("sk-abc123".to_string());
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(Secret(<redacted>))");
        assert_eq!(s.expose(), "sk-abc123");
    }
}
