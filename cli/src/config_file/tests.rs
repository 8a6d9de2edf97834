//! The file formats against examples, mistakes and the WIT `client-config` they mirror.

use super::*;

#[test]
fn toml_with_every_section() {
    let c = from_toml(
        r#"
            default-model = "m1"
            routing = "least-loaded"
            max-response-bytes = 1048576
            [timeouts]
            connect-ms = 1000
            total-ms = 30000
            [retry]
            max-attempts = 5
            [cooldown]
            base-ms = 100
            probe-health = true
            [[backends]]
            name = "a"
            kind = "vllm"
            base-url = "http://a:8000/v1"
            models = ["m1"]
            weight = 3
            [[backends]]
            kind = "sglang"
            base-url = "http://b:30000/v1"
            api-key = "k"
            "#,
    )
    .unwrap();
    assert_eq!(c.backends.len(), 2);
    assert_eq!(
        (c.backends[0].name.as_deref(), c.backends[0].weight),
        (Some("a"), Some(3))
    );
    assert_eq!(c.backends[1].kind, BackendKind::Sglang);
    assert_eq!(c.backends[1].api_key.as_deref(), Some("k"));
    assert_eq!(c.routing, Some(RoutingStrategy::LeastLoaded));
    assert_eq!(
        (
            c.timeouts.connect_ms,
            c.timeouts.total_ms,
            c.retry.max_attempts
        ),
        (Some(1000), Some(30000), Some(5))
    );
    assert_eq!(
        (c.cooldown.base_ms, c.cooldown.probe_health),
        (Some(100), Some(true))
    );
}

#[test]
fn toml_mistakes_are_named() {
    for (text, needle) in [
        (
            "[[backends]]\nkind = \"vllm\"\nbase-url = \"http://a/v1\"\nbogus = 1",
            "bogus",
        ),
        (
            "[[backends]]\nkind = \"tgi\"\nbase-url = \"http://a/v1\"",
            "unknown backend kind `tgi`",
        ),
        (
            "routing = \"fastest\"\n[[backends]]\nkind = \"vllm\"\nbase-url = \"http://a/v1\"",
            "unknown routing",
        ),
        (
            "[[backends]]\nkind = \"vllm\"\nbase-url = \"http://a/v1\"\napi-key-env = \"LLM_CORE_TEST_UNSET_VAR\"",
            "is not set",
        ),
    ] {
        let e = from_toml(text).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidConfig);
        assert!(e.message.contains(needle), "{needle}: {}", e.message);
    }
}

#[test]
fn parse_errors_do_not_echo_keys() {
    let toml_cases = [
        "[[backends]]\nkind = \"vllm\"\nbase-url = \"http://a/v1\"\napi-key = sk-secret-123",
        "[[backends]]\nkind = \"vllm\"\nbase-url = \"http://a/v1\"\napi-key = [\"sk-secret-123\"]",
        "[[backends]]\nkind = \"vllm\"\nbase-url = \"http://a/v1\"\napi-key = \"sk-secret-123",
    ];
    for text in toml_cases {
        let e = from_toml(text).unwrap_err().message;
        assert!(!e.contains("secret"), "{e}");
        assert!(e.contains("line 4"), "{e}");
    }
    assert_eq!(
        redact_values(r#"invalid type: string "sk-1", expected `"`"#),
        r#"invalid type: string "…", expected `"`"#
    );
    assert_eq!(
        redact_values("invalid type: integer `12345678`, expected a string"),
        "invalid type: integer `…`, expected a string"
    );
    assert_eq!(
        redact_values("unknown field `bogus`, expected one of `name`, `kind`"),
        "unknown field `bogus`, expected one of `name`, `kind`"
    );
    assert_eq!(redact_values("cut `sk-12"), "cut `…");
    // Values of every type, in both formats: the message names the place, not the value.
    for value in [
        "12345678",
        "12345678.5",
        "\"12345678\"",
        "[12345678]",
        "{ k = 12345678 }",
    ] {
        let text = format!(
            "[[backends]]\nkind = \"vllm\"\nbase-url = \"http://a/v1\"\nweight = \"x\"\napi-key = {value}\nname = 12345678"
        );
        let e = from_toml(&text).unwrap_err().message;
        assert!(!e.contains("12345678"), "{value}: {e}");
    }
    // (A bare YAML scalar such as `12345678` is a string there: a valid key.)
    for value in ["[12345678]", "{k: 12345678}", "[{a: 12345678}]"] {
        let text = format!(
            "llms:\n  models:\n    - {{name: m, backend: vllm, hostname: 'http://a/v1', api_key: {value}}}\n"
        );
        let e = from_aios_yaml(&text).unwrap_err().message;
        assert!(!e.contains("12345678"), "{value}: {e}");
    }
    let yaml_cases = [
        "llms:\n  models:\n    - {name: m, backend: vllm, hostname: 'http://a/v1', api_key: [\"sk-secret-123\"]}\n",
        "llms:\n  models: \"sk-secret-123\"\n",
    ];
    for text in yaml_cases {
        let e = from_aios_yaml(text).unwrap_err().message;
        assert!(!e.contains("secret"), "{e}");
    }
}

#[test]
fn keys_never_show_in_debug() {
    let text =
        "[[backends]]\nkind = \"vllm\"\nbase-url = \"http://a/v1\"\napi-key = \"sk-debug-secret\"";
    let file: FileConfig = toml::from_str(text).unwrap();
    let shown = format!("{file:?}");
    assert!(
        !shown.contains("sk-debug-secret") && shown.contains("api_key"),
        "{shown}"
    );
    let yaml = "llms:\n  models:\n    - {name: m, backend: vllm, api_key: sk-debug-secret}\n";
    let file: AiosFile = serde_yaml_ng::from_str(yaml).unwrap();
    let shown = format!("{file:?}");
    assert!(
        !shown.contains("sk-debug-secret") && shown.contains("api_key"),
        "{shown}"
    );
}

#[test]
fn api_key_env_errors_name_the_backend() {
    let e = from_toml("[[backends]]\nname = \"gpu-b\"\nkind = \"sglang\"\nbase-url = \"http://gpu-b:30000/v1\"\napi-key-env = \"LLM_CORE_TEST_UNSET_VAR\"")
            .unwrap_err()
            .message;
    assert!(
        e.contains("backend `gpu-b`") && e.contains("export LLM_CORE_TEST_UNSET_VAR="),
        "{e}"
    );
    let e = from_toml("[[backends]]\nkind = \"sglang\"\nbase-url = \"http://gpu-b:30000/v1\"\napi-key-env = \"LLM_CORE_TEST_UNSET_VAR\"")
            .unwrap_err()
            .message;
    assert!(e.contains("backend `http://gpu-b:30000/v1`"), "{e}");
}

/// The file format follows the WIT `client-config`: a TOML file setting every field of
/// it (and of the records it holds) is accepted (`deny_unknown_fields` refuses what the
/// file structs lack) and each value reaches the `ClientConfig`. A field added to the
/// WIT and not to the file structs fails here.
#[test]
fn every_wit_client_config_field_is_accepted() {
    let wit = include_str!("../../../wit/llm.wit");
    let wit = WitTypes::parse(wit);
    let mut values = Vec::new();
    let text = wit.toml_table("client-config", "", &mut values);
    let config = from_toml(&text).unwrap_or_else(|e| panic!("{}\n{text}", e.message));
    let shown = format!("{config:?}");
    for (field, value) in &values {
        if field.contains("key") {
            continue; // keys may be redacted in Debug
        }
        // The generated Debug spells fields as the WIT does (`probe-health`).
        let seen = match value.as_str() {
            "true" => shown.contains(&format!("{field}: Some(true)")),
            v if v.starts_with('"')
                && wit
                    .enums
                    .values()
                    .flatten()
                    .any(|c| v == format!("\"{c}\"")) =>
            {
                true
            }
            v => shown.contains(v.trim_matches(['"', '[', ']'])),
        };
        assert!(
            seen,
            "WIT field `{field}` = {value} did not reach the config: {shown}"
        );
    }
    assert!(values.len() >= 20, "{text}");
}

/// The records and enums of a WIT file, enough to write a TOML file for one of them.
struct WitTypes {
    records: std::collections::HashMap<String, Vec<(String, String)>>,
    enums: std::collections::HashMap<String, Vec<String>>,
}

impl WitTypes {
    fn parse(wit: &str) -> WitTypes {
        let mut records = std::collections::HashMap::new();
        let mut enums = std::collections::HashMap::new();
        let mut current: Option<(bool, String, Vec<String>)> = None;
        for line in wit.lines().map(str::trim) {
            if line.starts_with("//") || line.is_empty() {
                continue;
            }
            if let Some((is_record, name, items)) = &mut current {
                if line == "}" {
                    if *is_record {
                        let fields = items
                            .iter()
                            .filter_map(|f| f.split_once(':'))
                            .map(|(n, t)| (n.trim().to_string(), t.trim().to_string()))
                            .collect();
                        records.insert(name.clone(), fields);
                    } else {
                        enums.insert(name.clone(), items.clone());
                    }
                    current = None;
                } else {
                    items.push(line.trim_end_matches(',').to_string());
                }
                continue;
            }
            for (keyword, is_record) in [("record ", true), ("enum ", false)] {
                if let Some(rest) = line.strip_prefix(keyword) {
                    let name = rest.trim_end_matches('{').trim().to_string();
                    current = Some((is_record, name, Vec::new()));
                }
            }
        }
        WitTypes { records, enums }
    }

    /// TOML for record `name` at table path `path`: scalars first, then sub-tables.
    fn toml_table(&self, name: &str, path: &str, values: &mut Vec<(String, String)>) -> String {
        let fields = self
            .records
            .get(name)
            .unwrap_or_else(|| panic!("no WIT record `{name}`"));
        let mut scalars = String::new();
        let mut tables = String::new();
        for (field, ty) in fields {
            let inner = ty
                .strip_prefix("option<")
                .and_then(|t| t.strip_suffix('>'))
                .unwrap_or(ty);
            let sub = |p: &str| {
                if path.is_empty() {
                    p.to_string()
                } else {
                    format!("{path}.{p}")
                }
            };
            let value = match inner {
                "string" => format!("\"v{}\"", 7001 + values.len()),
                "u32" | "u64" => (7001 + values.len()).to_string(),
                "bool" => "true".to_string(),
                "list<string>" => format!("[\"v{}\"]", 7001 + values.len()),
                t if self.enums.contains_key(t) => format!("\"{}\"", self.enums[t][0]),
                t if self.records.contains_key(t) => {
                    let header = format!("[{}]\n", sub(field));
                    tables.push_str(&header);
                    tables.push_str(&self.toml_table(t, &sub(field), values));
                    continue;
                }
                t => match t.strip_prefix("list<").and_then(|t| t.strip_suffix('>')) {
                    Some(r) if self.records.contains_key(r) => {
                        tables.push_str(&format!("[[{}]]\n", sub(field)));
                        tables.push_str(&self.toml_table(r, &sub(field), values));
                        continue;
                    }
                    _ => panic!("teach this test the WIT type `{ty}` of `{field}`"),
                },
            };
            values.push((field.clone(), value.clone()));
            scalars.push_str(&format!("{field} = {value}\n"));
        }
        scalars + &tables
    }
}

#[test]
fn aios_config_yaml() {
    let Loaded { config: c, skipped } = from_aios_yaml(
        r#"
api_keys:
  openai: ""
llms:
  models:
    - name: "Qwen/Qwen2.5-7B-Instruct"
      backend: "vllm"
      hostname: "http://gpu-a:8091/v1"
    - name: "meta-llama/Llama-3.1-8B-Instruct"
      backend: "vllm"
      hostname: "http://gpu-a:8091/v1/"
    - name: "Qwen/Qwen2.5-7B-Instruct"
      backend: "sglang"
      hostname: "http://gpu-b:30000/v1"
      api_key: "k"
    - name: "gpt-4o-mini"
      backend: "openai"
  router:
    strategy: "sequential"
memory:
  memory_limit: 524288
"#,
    )
    .unwrap();
    assert_eq!(c.backends.len(), 2);
    assert_eq!(c.backends[0].base_url, "http://gpu-a:8091/v1");
    assert_eq!(
        c.backends[0].models,
        [
            "Qwen/Qwen2.5-7B-Instruct",
            "meta-llama/Llama-3.1-8B-Instruct"
        ]
    );
    assert_eq!(
        (c.backends[1].kind, c.backends[1].api_key.as_deref()),
        (BackendKind::Sglang, Some("k"))
    );
    assert_eq!(c.default_model.as_deref(), Some("Qwen/Qwen2.5-7B-Instruct"));
    assert_eq!(c.routing, Some(RoutingStrategy::Sequential));
    assert_eq!(
        skipped,
        [Skipped {
            model: "gpt-4o-mini".into(),
            backend: "openai".into()
        }]
    );
    let e = from_aios_yaml("llms:\n  models:\n    - {name: m, backend: vllm, hostname: 'http://a/v1'}\n  router: {strategy: smart}\n").unwrap_err();
    assert!(e.message.contains("smart"), "{}", e.message);
    let two_keys = "llms:\n  models:\n    - {name: m, backend: vllm, hostname: 'http://a/v1', api_key: k1}\n    - {name: n, backend: vllm, hostname: 'http://a/v1', api_key: k2}\n";
    let e = from_aios_yaml(two_keys).unwrap_err().message;
    assert!(
        e.contains("another api_key") && !e.contains("k1") && !e.contains("k2"),
        "{e}"
    );
    let one_key = "llms:\n  models:\n    - {name: m, backend: vllm, hostname: 'http://a/v1'}\n    - {name: n, backend: vllm, hostname: 'http://a/v1', api_key: k1}\n";
    let c = from_aios_yaml(one_key).unwrap().config;
    assert_eq!(
        (c.backends.len(), c.backends[0].api_key.as_deref()),
        (1, Some("k1"))
    );
    assert!(
        from_aios_yaml("llms:\n  models: []\n")
            .unwrap_err()
            .message
            .contains("no vllm or sglang")
    );
    let e = from_aios_yaml("llms:\n  models:\n    - {name: gpt-4o, backend: openai}\n")
        .unwrap_err()
        .message;
    assert!(e.contains("skipped: gpt-4o (backend openai)"), "{e}");
}
