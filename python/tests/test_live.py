"""Against the live llama.cpp server `scripts/test` starts (LLM_CORE_LIVE_URL): chat, a
stream (blocking and async), and JSON-schema output."""

import asyncio
import json

import aios_llm_core as llm
from conftest import REPO


def config(url):
    return {"backends": [{"kind": "auto", "base_url": url}], "timeouts": {"total_ms": 120000}}


def test_chat(live_url):
    r = llm.Client(config(live_url)).chat("Say hello.", max_tokens=8, temperature=0)
    assert r.content and r.usage.completion_tokens > 0 and r.finish_reason in ("stop", "length")


def test_stream(live_url):
    stream = llm.Client(config(live_url)).chat_stream("Count from one to five.", max_tokens=16, temperature=0)
    pieces = [e.text for e in stream if isinstance(e, llm.ContentDelta)]
    assert len(pieces) > 1
    assert stream.response.content == "".join(pieces)


def test_async_stream(live_url):
    async def main():
        client = llm.AsyncClient(config(live_url))
        stream = await client.chat_stream("Say hi.", max_tokens=8, temperature=0)
        return [e async for e in stream], stream.response

    events, response = asyncio.run(main())
    assert isinstance(events[-1], llm.Done) and response.content


def test_json_schema(live_url):
    schema = json.loads((REPO / "examples" / "city.schema.json").read_text())
    text = llm.Client(config(live_url)).chat_with_json_output(
        "Name a city and its country.",
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema, "strict": True}},
        max_tokens=80,
        temperature=0,
        seed=7,
    )
    value = json.loads(text)
    assert list(value) == ["city", "country"] and all(isinstance(v, str) for v in value.values()), text
