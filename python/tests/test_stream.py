"""Streams: events in order then `Done`, tool-call deltas, cancel on close (the connection is
dropped), suspend to a checkpoint and resume it."""

import json
import time

import pytest

import aios_llm_core as llm
from conftest import chunk


def test_events_arrive_in_order_and_end_with_the_response(replay, client):
    replay.on({"stream": ["One", ", two", ", three"]})
    with client.chat_stream("Count") as stream:
        events = list(stream)
    assert [type(e) for e in events] == [llm.ContentDelta] * 3 + [llm.Done]
    assert "".join(e.text for e in events[:3]) == "One, two, three"
    assert stream.response.content == "One, two, three" and stream.response.finish_reason == "stop"
    assert replay.last()["body"]["stream"] is True


def test_tool_calls_stream_as_deltas(replay, client):
    replay.on(
        {
            "sse": [
                chunk({"tool_calls": [{"index": 0, "id": "c1", "type": "function", "function": {"name": "f", "arguments": ""}}]}),
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a": '}}]}),
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
                chunk({}, "tool_calls"),
                "[DONE]",
            ]
        }
    )
    events = list(client.chat_stream("x", tools=[{"name": "f"}]))
    deltas = [e for e in events if isinstance(e, llm.ToolCallDelta)]
    assert deltas[0].name == "f" and deltas[0].id == "c1"
    assert "".join(d.arguments for d in deltas) == '{"a": 1}'
    assert events[-1].response.tool_calls == [llm.ToolCall("c1", "f", {"a": 1})]


def test_closing_a_stream_cancels_the_request(replay, client):
    replay.on({"endless": "tick ", "every_ms": 20})
    stream = client.chat_stream("forever")
    for _, _event in zip(range(3), stream):
        pass
    assert replay.open_connections() == 1
    stream.close()
    assert stream.closed
    deadline = time.time() + 5
    while replay.open_connections() and time.time() < deadline:
        time.sleep(0.02)
    assert replay.open_connections() == 0
    assert list(stream) == []


def test_suspend_and_resume(replay, client):
    replay.push({"stream": ["The ", "sea ", "is ", "wide"], "delay_ms": 30})
    stream = client.chat_stream("About the sea", max_tokens=50)
    got = [next(stream).text, next(stream).text]
    checkpoint = stream.suspend()
    assert checkpoint.content == "".join(got) == "The sea "
    assert stream.closed
    # Plain data: through JSON and back, as another process would get it.
    checkpoint = llm.Checkpoint.from_json(checkpoint.to_json())

    replay.push({"stream": ["is ", "deep"]})
    resumed = client.resume(checkpoint)
    rest = [e.text for e in resumed if isinstance(e, llm.ContentDelta)]
    assert rest == ["is ", "deep"]
    assert resumed.response.content == "The sea is deep"
    body = replay.last()["body"]
    assert body["messages"][-1] == {"role": "assistant", "content": "The sea "}
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False


def test_a_stream_that_fails_before_its_first_event_raises_at_the_call(replay, client):
    replay.on({"error": 503, "message": "busy"})
    with pytest.raises(llm.UnavailableError):
        client.chat_stream("x")


def test_stream_text_reads_it_all(replay, client):
    replay.on({"stream": ["a", "b"]})
    assert client.chat_stream("x").text() == "ab"
    assert json.loads(json.dumps(replay.last()["body"]["messages"])) == [{"role": "user", "content": "x"}]


def test_a_dropped_stream_cancels_the_request(replay, client):
    import gc

    replay.on({"endless": "tick ", "every_ms": 20})
    stream = client.chat_stream("forever")
    next(stream)
    assert replay.open_connections() == 1
    del stream
    gc.collect()
    deadline = time.time() + 5
    while replay.open_connections() and time.time() < deadline:
        time.sleep(0.02)
    assert replay.open_connections() == 0


def test_suspend_leaves_out_events_received_but_not_yet_seen(replay, client):
    # Events every millisecond: pulls hand over several at once, most not yet iterated.
    replay.push({"endless": "tick ", "every_ms": 1})
    stream = client.chat_stream("x", max_tokens=10000)
    time.sleep(0.2)
    first = next(stream)
    checkpoint = stream.suspend()
    assert checkpoint.content == first.text == "tick "
