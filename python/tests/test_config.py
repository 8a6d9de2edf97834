"""Configurations: a dict (snake or kebab case), our TOML file, AIOS's config.yaml (file or
loaded dict); each maps to the backends the client reaches."""

import pytest

import aios_llm_core as llm


def test_a_dict_with_every_section(replay):
    config = llm.ClientConfig.from_dict(
        {
            "backends": [{"name": "a", "kind": "vllm", "base_url": replay.base_url, "models": ["m"], "weight": 2}],
            "default_model": "m",
            "routing": "least-loaded",
            "timeouts": {"total_ms": 5000, "connect-ms": 1000},
            "retry": {"max_attempts": 2},
            "cooldown": {"base_ms": 100},
            "max_response_bytes": 1 << 20,
        }
    )
    assert config.backends[0]["name"] == "a" and config.backends[0]["weight"] == 2
    assert (config.default_model, config.routing) == ("m", "least-loaded")
    replay.on({"text": "ok"})
    assert llm.Client(config).chat("x").backend == "a"


def test_our_toml_file(tmp_path, replay, monkeypatch):
    monkeypatch.setenv("PY_TEST_KEY", "sk-from-env")
    path = tmp_path / "llm-core.toml"
    path.write_text(
        f"""
default-model = "m"
[[backends]]
name = "gpu-a"
kind = "vllm"
base-url = "{replay.base_url}"
api-key-env = "PY_TEST_KEY"
models = ["m"]
"""
    )
    client = llm.Client(path)
    replay.on({"text": "from toml"})
    assert client.chat("x").content == "from toml"
    assert replay.last()["headers"]["authorization"] == "Bearer sk-from-env"
    assert "sk-from-env" not in repr(client)


def test_aios_config_yaml(tmp_path, replay):
    path = tmp_path / "config.yaml"
    path.write_text(
        f"""
llms:
  models:
    - name: "m"
      backend: "vllm"
      hostname: "{replay.base_url}"
    - name: "gpt-4o-mini"
      backend: "openai"
"""
    )
    config = llm.ClientConfig.from_file(path)
    assert config.skipped == [("gpt-4o-mini", "openai")]
    assert [b["kind"] for b in config.backends] == ["vllm"] and config.default_model == "m"
    replay.on({"text": "from yaml"})
    assert llm.Client(config).chat("x").content == "from yaml"
    same = llm.ClientConfig.from_dict({"llms": {"models": [{"name": "m", "backend": "vllm", "hostname": replay.base_url}]}})
    assert same.backends == config.backends


def test_a_missing_file_is_an_invalid_config(tmp_path):
    with pytest.raises(llm.InvalidConfigError, match="cannot read"):
        llm.Client(tmp_path / "nope.toml")
