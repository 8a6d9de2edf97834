//! Base URLs of backends: parsed once at `client.open`, joined with API paths per call.
//!
//! Hand-written instead of the `url` crate (about 100 KB of IDNA tables in the component):
//! the OpenAI base URLs we accept are plain `http(s)://host[:port][/path]`.

/// `http` or `https`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// A validated backend base URL such as `http://127.0.0.1:8000/v1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseUrl {
    pub scheme: Scheme,
    /// `host[:port]` exactly as given (lower-cased host), e.g. `127.0.0.1:8000` or `[::1]:8000`.
    pub authority: String,
    /// Path without a trailing slash, e.g. `/v1` (empty for the root).
    pub path: String,
}

impl BaseUrl {
    /// Parses and validates; the error says what is wrong in words a user can act on.
    pub fn parse(text: &str) -> Result<BaseUrl, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("base URL is empty".into());
        }
        // User info first, before any message could quote the URL: it may hold a key.
        let after_scheme = text.split_once("://").map_or(text, |(_, rest)| rest);
        let authority_part = after_scheme
            .split(['/', '?', '#'])
            .next()
            .unwrap_or_default();
        if authority_part.contains('@') {
            // Credentials in a URL would leak into logs and errors; keys go in `api-key`.
            return Err(
                "base URL must not contain user info (`user:password@`): put the key in `api-key`"
                    .into(),
            );
        }
        // Messages quote the URL without its query or fragment (they may carry tokens).
        let shown = text.split(['?', '#']).next().unwrap_or_default();
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "base URL `{}` contains whitespace",
                shown.escape_debug()
            ));
        }
        let (scheme, rest) = if let Some(rest) = strip_prefix_ci(text, "http://") {
            (Scheme::Http, rest)
        } else if let Some(rest) = strip_prefix_ci(text, "https://") {
            (Scheme::Https, rest)
        } else {
            return Err(format!(
                "base URL `{shown}` must start with http:// or https:// (e.g. http://127.0.0.1:8000/v1)"
            ));
        };
        if rest.contains(['?', '#']) {
            return Err(format!(
                "base URL `{shown}` must not have a query or fragment"
            ));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        validate_authority(authority).map_err(|why| format!("base URL `{shown}`: {why}"))?;
        Ok(BaseUrl {
            scheme,
            authority: authority.to_ascii_lowercase(),
            path: path.trim_end_matches('/').to_string(),
        })
    }

    /// `scheme://authority`, the unit the host's sandbox allows or denies.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme.as_str(), self.authority)
    }

    /// Path of an OpenAI API endpoint under the base, e.g. `/v1/chat/completions`.
    pub fn api_path(&self, endpoint: &str) -> String {
        format!("{}{}", self.path, endpoint)
    }

    /// Path of a server endpoint outside the OpenAI prefix (`/health`, `/metrics`): the
    /// base path without a trailing `/v1`.
    pub fn server_path(&self, endpoint: &str) -> String {
        let root = self.path.strip_suffix("/v1").unwrap_or(&self.path);
        format!("{root}{endpoint}")
    }
}

impl std::fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.origin(), self.path)
    }
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

fn validate_authority(authority: &str) -> Result<(), String> {
    if authority.is_empty() {
        return Err("no host".into());
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']').ok_or("unclosed `[` in IPv6 host")?;
        let host = &rest[..end];
        if host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err(format!("invalid IPv6 host `[{host}]`"));
        }
        let after = &rest[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(format!("unexpected `{after}` after IPv6 host")),
        };
        (host, port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    if !authority.starts_with('[')
        && !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
    {
        return Err(format!("invalid host `{host}`"));
    }
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(p) if p > 0 => {}
            _ => return Err(format!("invalid port `{port}`")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_info_and_queries_are_never_quoted() {
        for bad in [
            "http://u:KEY1234@host/v1?x=1",
            "http://u:KEY1234@host /v1",
            "ftp://u:KEY1234@host/v1",
            "u:KEY1234@host/v1",
            "http://KEY1234@[::1]:80",
        ] {
            let e = BaseUrl::parse(bad).unwrap_err();
            assert!(e.contains("user info"), "{bad}: {e}");
            assert!(!e.contains("KEY1234"), "{bad}: {e}");
        }
        for bad in [
            "http://h/v1?token=SECRET",
            "http://h /v1?token=SECRET",
            "ftp://h?token=SECRET",
        ] {
            let e = BaseUrl::parse(bad).unwrap_err();
            assert!(!e.contains("SECRET"), "{bad}: {e}");
        }
    }

    #[test]
    fn parses_typical_bases() {
        let u = BaseUrl::parse("http://127.0.0.1:8000/v1/").unwrap();
        assert_eq!(u.scheme, Scheme::Http);
        assert_eq!(u.authority, "127.0.0.1:8000");
        assert_eq!(u.path, "/v1");
        assert_eq!(u.api_path("/chat/completions"), "/v1/chat/completions");
        assert_eq!(u.server_path("/health"), "/health");
        assert_eq!(u.origin(), "http://127.0.0.1:8000");
        assert_eq!(u.to_string(), "http://127.0.0.1:8000/v1");

        let u = BaseUrl::parse("HTTPS://GPU-Box.local/proxy/v1").unwrap();
        assert_eq!(u.scheme, Scheme::Https);
        assert_eq!(u.authority, "gpu-box.local");
        assert_eq!(u.server_path("/metrics"), "/proxy/metrics");

        let u = BaseUrl::parse("http://[::1]:30000").unwrap();
        assert_eq!(u.authority, "[::1]:30000");
        assert_eq!(u.api_path("/models"), "/models");
    }

    #[test]
    fn refuses_bad_bases_with_reasons() {
        for (bad, why) in [
            ("", "empty"),
            ("127.0.0.1:8000/v1", "must start with http"),
            ("ftp://x/v1", "must start with http"),
            ("http://", "no host"),
            ("http://:8000/v1", "no host"),
            ("http://h:0/v1", "invalid port"),
            ("http://h:99999/v1", "invalid port"),
            ("http://h:80a/v1", "invalid port"),
            ("http://user:sk-secret@h/v1", "user info"),
            ("http://h/v1?x=1", "query"),
            ("http://h /v1", "whitespace"),
            ("http://h%41/v1", "invalid host"),
            ("http://[::1/v1", "unclosed"),
        ] {
            let err = BaseUrl::parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
            assert!(!err.contains("sk-secret"), "key leaked: {err}");
        }
    }
}
