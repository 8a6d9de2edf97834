"""Blocking calls against the replay server: what is sent, what comes back, for text,
tool calls, JSON output, token counts, embeddings, images, logprobs, models and health."""

import base64
import json

import pytest

import aios_llm_core as llm
from conftest import CHAT


def test_chat_sends_the_request_and_reads_the_answer(replay, client):
    replay.on({"text": "Hello there"})
    r = client.chat(
        [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Say hi"}],
        temperature=0.25,
        max_tokens=7,
        stop="END",
        seed=3,
        request_id="req-42",
        priority=-2,
        session_id="agent-7",
        extra_body={"chat_template_kwargs": {"enable_thinking": False}},
    )
    assert r.content == "Hello there"
    assert r.finish_reason == "stop"
    assert r.usage == llm.Usage(prompt_tokens=3, completion_tokens=2, total_tokens=5)
    assert r.backend == replay.origin.split("//")[1] and r.attempts == 1
    sent = replay.last()
    body = sent["body"]
    assert body["messages"] == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "Say hi"},
    ]
    assert (body["temperature"], body["max_tokens"], body["stop"], body["seed"]) == (0.25, 7, ["END"], 3)
    assert body["request_id"] == "req-42" and sent["headers"]["x-request-id"] == "req-42"
    assert body["priority"] == -2
    assert sent["headers"]["x-session-id"] == "agent-7"
    assert body["chat_template_kwargs"] == {"enable_thinking": False}


def test_a_string_is_one_user_message(replay, client):
    replay.on({"text": "ok"})
    client.chat("just this")
    assert replay.last()["body"]["messages"] == [{"role": "user", "content": "just this"}]


def test_tool_calls_come_back_decoded_with_slashes_restored(replay, client):
    replay.on({"tool_calls": [["call-1", "weather__get", '{"city": "Paris"}']]})
    tools = [
        {
            "type": "function",
            "function": {
                "name": "weather/get",
                "description": "Weather of a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    calls = client.chat_with_tool_call_output("Weather in Paris?", tools=tools, tool_choice="required")
    assert calls == [llm.ToolCall(id="call-1", name="weather/get", arguments={"city": "Paris"})]
    body = replay.last()["body"]
    assert body["tools"][0]["function"]["name"] == "weather__get"
    assert body["tool_choice"] == "required"
    r = client.chat("Weather?", tools=tools)
    assert r.finish_reason == "tool_calls" and r.tool_calls[0].arguments_json == '{"city": "Paris"}'


def test_an_answer_without_a_tool_call_is_invalid_output_with_the_answer(replay, client):
    replay.on({"text": "I cannot call tools"})
    with pytest.raises(llm.InvalidOutputError) as e:
        client.chat_with_tool_call_output("x", tools=[{"name": "f"}])
    assert e.value.partial is not None and e.value.partial.content == "I cannot call tools"


def test_assistant_tool_calls_and_tool_results_are_sent_back(replay, client):
    replay.on({"text": "It is sunny"})
    client.chat(
        [
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "w", "arguments": '{"a":1}'}}],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        ]
    )
    messages = replay.last()["body"]["messages"]
    assert messages[1]["tool_calls"][0]["function"] == {"name": "w", "arguments": '{"a":1}'}
    assert messages[2] == {"role": "tool", "tool_call_id": "c1", "content": "sunny"}


def test_json_output_with_a_schema(replay, client):
    replay.on({"text": '```json\n{"city": "Paris"}\n```'})
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    text = client.chat_with_json_output(
        "Capital of France?",
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}},
    )
    assert json.loads(text) == {"city": "Paris"}
    sent = replay.last()["body"]
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["schema"] == schema


def test_json_that_does_not_parse_keeps_the_answer(replay, client):
    replay.on({"text": "not json at all"})
    with pytest.raises(llm.InvalidOutputError) as e:
        client.chat_with_json_output("x")
    assert e.value.code == "invalid-output"
    assert e.value.partial.content == "not json at all"


def test_count_tokens_and_embeddings(replay, client):
    replay.on({"json": {"count": 17, "max_model_len": 4096, "tokens": [1, 2]}}, path="/tokenize")
    count = client.count_tokens("How long is this?")
    assert count == llm.TokenCount(prompt_tokens=17, model="m", backend=count.backend, max_model_len=4096)
    assert replay.last("/tokenize")["body"]["messages"][0]["content"] == "How long is this?"
    replay.on(
        {
            "json": {
                "data": [{"index": 1, "embedding": [0.0, 1.0]}, {"index": 0, "embedding": [1.0, 0.0]}],
                "model": "m",
                "usage": {"prompt_tokens": 4, "total_tokens": 4},
            }
        },
        path="/v1/embeddings",
    )
    e = client.embed(["a", "b"], dimensions=2)
    assert e.vectors == [[1.0, 0.0], [0.0, 1.0]] and e.usage.prompt_tokens == 4
    assert replay.last("/v1/embeddings")["body"]["input"] == ["a", "b"]


def test_images_are_sent_as_content_parts(replay, client):
    replay.on({"text": "a cat"})
    png = b"\x89PNG\r\n\x1a\nfake"
    client.chat(
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
                    {"type": "image", "mime_type": "image/png", "data": png},
                ],
            }
        ]
    )
    parts = replay.last()["body"]["messages"][0]["content"]
    assert parts[0] == {"type": "text", "text": "What is this?"}
    assert parts[1]["image_url"]["url"] == "https://example.com/cat.jpg"
    assert parts[2]["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(png).decode()


def test_logprobs_are_asked_for_and_read(replay, client):
    replay.on(
        {
            "json": {
                "model": "m",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "Hi"},
                        "finish_reason": "stop",
                        "logprobs": {
                            "content": [
                                {
                                    "token": "Hi",
                                    "logprob": -0.25,
                                    "top_logprobs": [{"token": "Hi", "logprob": -0.25}, {"token": "Yo", "logprob": -2.0}],
                                }
                            ]
                        },
                    }
                ],
            }
        }
    )
    r = client.chat("hi", logprobs=2)
    assert r.logprobs[0].token == "Hi" and r.logprobs[0].top[1] == llm.TopLogprob("Yo", -2.0)
    body = replay.last()["body"]
    assert (body["logprobs"], body["top_logprobs"]) == (True, 2)


def test_models_and_health(replay):
    replay.on({"models": ["m", "n"]}, path="/v1/models")
    replay.on({"json": "{}"}, path="/health")
    client = llm.Client({"backends": [{"kind": "vllm", "base_url": replay.base_url}]})
    assert [m.id for m in client.list_models()] == ["m", "n"]
    (h,) = client.health()
    assert h.healthy and h.models == ["m", "n"] and h.base_url == replay.base_url


def test_unknown_keyword_arguments_are_refused(client):
    with pytest.raises(TypeError, match="temprature"):
        client.chat("x", temprature=1)


def test_calls_from_many_threads_share_one_client(replay, client):
    from concurrent.futures import ThreadPoolExecutor

    replay.on({"text": "ok", "after_ms": 50})
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: client.chat(f"q{i}").content, range(16)))
    assert answers == ["ok"] * 16
    assert len(replay.requests()) == 16
