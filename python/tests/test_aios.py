"""The AIOS adapter: what AIOS's vLLM/SGLang path passes in, what AIOS expects back (text;
tool calls as {name, parameters, id}; JSON text), and AIOS's status codes for failures."""

import json
from types import SimpleNamespace

from aios_llm_core.aios import LlmCoreBackend

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "demo_author/arxiv",
            "description": "Search arXiv",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
        },
    }
]


def backend(replay):
    return LlmCoreBackend.for_aios_model("vllm", replay.base_url, name="m")


def test_text(replay):
    replay.on({"text": "Hello from the core"})
    answer, finished = backend(replay).get_model_response(
        "m", [{"role": "user", "content": "hi"}], temperature=0.5, max_tokens=64
    )
    assert (answer, finished) == ("Hello from the core", True)
    body = replay.last()["body"]
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("m", 0.5, 64)
    assert replay.last()["headers"]["authorization"] == "Bearer sk-1234"  # AIOS's placeholder


def test_tool_calls_as_aios_decodes_them(replay):
    replay.on({"tool_calls": [["call-9", "demo_author__arxiv", '{"query": "wasm"}']]})
    query = SimpleNamespace(
        messages=[{"role": "user", "content": "Find papers on wasm"}],
        tools=TOOLS,
        message_return_type="text",
        response_format=None,
        temperature=None,
        max_new_tokens=None,
    )
    r = backend(replay).respond("m", query)
    assert r == {
        "response_message": None,
        "tool_calls": [{"name": "demo_author/arxiv", "parameters": {"query": "wasm"}, "id": "call-9"}],
        "finished": True,
        "error": None,
        "status_code": 200,
    }
    body = replay.last()["body"]
    assert body["tools"][0]["function"]["name"] == "demo_author__arxiv"
    assert (body["temperature"], body["max_tokens"]) == (1.0, 1000)  # AIOS's defaults


def test_json_output(replay):
    replay.on({"text": '{"answer": 4}'})
    r = backend(replay).respond(
        "m", {"messages": [{"role": "user", "content": "2+2?"}], "message_return_type": "json"}
    )
    assert json.loads(r["response_message"]) == {"answer": 4} and r["status_code"] == 200
    assert replay.last()["body"]["response_format"] == {"type": "json_object"}


def test_failures_get_aios_status_codes(replay):
    b = backend(replay)
    for reply, status in [
        ({"json": '{"error":"Unauthorized"}', "status": 401}, 401),
        ({"error": 429, "message": "slow"}, 429),
        ({"error": 400, "message": "bad"}, 502),
    ]:
        replay.on(reply)
        r = b.respond("m", {"messages": [{"role": "user", "content": "x"}]})
        assert (r["status_code"], r["response_message"], r["finished"]) == (status, None, True)
        assert r["error"]
