"""Failures become the typed exception of their WIT error code, with the status, body,
backend and partial answer; the sandbox denies origins that are not allowed; keys never
show in errors or reprs."""

import socket

import pytest

import aios_llm_core as llm
from conftest import chunk


@pytest.mark.parametrize(
    "reply, cls, status",
    [
        ({"json": '{"error":"Unauthorized"}', "status": 401}, llm.UnauthorizedError, 401),
        ({"error": 429, "message": "slow down"}, llm.RateLimitedError, 429),
        ({"error": 503, "message": "busy"}, llm.UnavailableError, 503),
        ({"error": 418, "message": "teapot"}, llm.HttpStatusError, 418),
        ({"json": '{"nonsense": true}'}, llm.MalformedResponseError, None),
    ],
)
def test_http_failures_have_their_own_class(replay, client, reply, cls, status):
    replay.on(reply)
    with pytest.raises(cls) as e:
        client.chat("x")
    err = e.value
    assert isinstance(err, llm.LlmCoreError)
    assert err.code == cls.code and err.status == status
    assert err.backend == replay.origin.split("//")[1] and err.attempts == 1
    if status is not None:
        assert err.body  # the server's own answer is kept


def test_the_context_window_error_is_recognised(replay, client):
    replay.on({"error": 400, "message": "This model's maximum context length is 2048 tokens. However, you requested 5000 tokens"})
    with pytest.raises(llm.ContextLengthExceededError) as e:
        client.chat("x")
    assert e.value.status == 400 and "maximum context length" in e.value.body


def test_an_unknown_model_lists_the_available_ones(client):
    with pytest.raises(llm.UnknownModelError) as e:
        client.chat("x", model="nope")
    assert e.value.available == ["m"]


def test_a_refused_connection_is_a_connection_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    client = llm.Client({"backends": [{"kind": "vllm", "base_url": f"http://127.0.0.1:{port}/v1", "models": ["m"]}], "retry": {"max_attempts": 1}})
    with pytest.raises(llm.LlmConnectionError) as e:
        client.chat("x")
    assert isinstance(e.value, ConnectionError)


def test_a_silent_server_times_out(replay):
    replay.on({"hang": True})
    client = llm.Client(replay.config(timeouts={"first_byte_ms": 200}))
    with pytest.raises(llm.LlmTimeoutError) as e:
        client.chat("x")
    assert e.value.kind == "first-byte" and isinstance(e.value, TimeoutError)


def test_a_stream_without_its_end_is_truncated_with_what_arrived(replay):
    replay.on({"sse": [chunk({"content": "Hel"}), chunk({"content": "lo"})]})
    client = llm.Client(replay.config(retry={"max_attempts": 1, "resume_streams": False}))
    stream = client.chat_stream("x")
    seen = []
    with pytest.raises(llm.TruncatedError) as e:
        for event in stream:
            seen.append(event)
    assert [ev.text for ev in seen] == ["Hel", "lo"]
    assert e.value.partial.content == "Hello"


def test_a_stream_cut_mid_answer_keeps_what_arrived(replay):
    replay.on({"stream": ["Once ", "upon", " a time"], "delay_ms": 20, "cut_after": 2})
    client = llm.Client(replay.config(retry={"max_attempts": 1, "resume_streams": False}))
    seen = []
    with pytest.raises(llm.LlmConnectionError) as e:
        for event in client.chat_stream("x"):
            seen.append(event.text)
    assert seen == ["Once ", "upon"] and e.value.partial.content == "Once upon"


def test_the_sandbox_denies_an_origin_that_is_not_allowed(replay):
    replay.on({"text": "should never be sent"})
    host = llm.HostOptions(allowed_origins=["http://127.0.0.1:1"])
    client = llm.Client(replay.config(), host=host)
    assert client.allowed_origins == ["http://127.0.0.1:1"]
    with pytest.raises(llm.DeniedError) as e:
        client.chat("x")
    assert e.value.code == "denied"
    assert replay.requests(None) == []  # nothing reached the server


def test_by_default_a_client_reaches_exactly_its_backends(replay, client):
    assert client.allowed_origins == [replay.origin]


def test_an_invalid_config_names_the_field():
    with pytest.raises(llm.InvalidConfigError) as e:
        llm.Client({"backends": [{"kind": "vllm", "base_url": "ftp://x"}]})
    assert "base-url" in str(e.value) or "base_url" in str(e.value) or "ftp" in str(e.value)
    with pytest.raises(llm.InvalidConfigError, match="bogus"):
        llm.Client({"backends": [{"kind": "vllm", "base_url": "http://x:1/v1"}], "bogus": 1})


def test_keys_never_show(replay):
    key = "sk-very-secret-key-123456"
    replay.on({"json": '{"error":"Unauthorized"}', "status": 401})
    client = llm.Client(replay.config(backend={"api_key": key}))
    assert key not in repr(client)
    assert key not in repr(llm.ClientConfig.of(replay.config(backend={"api_key": key})))
    with pytest.raises(llm.UnauthorizedError) as e:
        client.chat("x")
    assert key not in str(e.value) and key not in repr(e.value)
    assert replay.last()["headers"]["authorization"] == f"Bearer {key}"
    with pytest.raises(llm.InvalidConfigError) as e:
        llm.Client({"backends": [{"kind": "vllm", "base_url": "http://x:1/v1", "api_key": 12345678}]})
    assert "12345678" not in str(e.value)
