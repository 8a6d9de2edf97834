"""The asyncio client: calls and `async for` streams run on the extension's runtime and never
block the event loop (another task keeps running meanwhile); cancelling a task cancels its
call."""

import asyncio
import time

import pytest

import aios_llm_core as llm


def run(coro):
    return asyncio.run(coro)


def test_an_async_stream_interleaves_with_other_tasks(replay):
    # Five parts 100 ms apart: a blocking read would starve the ticker for ~400 ms.
    replay.on({"stream": ["a", "b", "c", "d", "e"], "delay_ms": 100})

    async def main():
        client = llm.AsyncClient(replay.config())
        ticks = []
        arrivals = []

        async def ticker():
            while True:
                ticks.append(time.perf_counter())
                await asyncio.sleep(0.01)

        t = asyncio.create_task(ticker())
        start = time.perf_counter()
        stream = await client.chat_stream("x")
        async for event in stream:
            if isinstance(event, llm.ContentDelta):
                arrivals.append((time.perf_counter(), len(ticks)))
        elapsed = time.perf_counter() - start
        t.cancel()
        return stream, ticks, arrivals, elapsed

    stream, ticks, arrivals, elapsed = run(main())
    assert stream.response.content == "abcde"
    assert elapsed >= 0.35
    # The ticker kept its 10 ms pace through the whole stream...
    assert len(ticks) >= elapsed / 0.01 * 0.5, (len(ticks), elapsed)
    # ...and ran between every two events.
    counts = [n for _, n in arrivals]
    assert all(b - a >= 3 for a, b in zip(counts, counts[1:])), counts
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert max(gaps) < 0.08, max(gaps)


def test_async_calls_run_concurrently(replay):
    replay.on({"text": "ok", "after_ms": 200})

    async def main():
        client = llm.AsyncClient(replay.config())
        start = time.perf_counter()
        answers = await asyncio.gather(*(client.chat(f"q{i}") for i in range(16)))
        return answers, time.perf_counter() - start

    answers, elapsed = run(main())
    assert [a.content for a in answers] == ["ok"] * 16
    assert elapsed < 1.5, elapsed  # 16 x 200 ms one after another would take 3.2 s


def test_async_errors_are_typed(replay):
    replay.on({"error": 401, "message": "no"})

    async def main():
        client = llm.AsyncClient(replay.config())
        with pytest.raises(llm.UnauthorizedError) as e:
            await client.chat("x")
        return e.value

    assert run(main()).status == 401


def test_cancelling_the_task_cancels_the_call(replay):
    replay.on({"hang": True})

    async def main():
        client = llm.AsyncClient(replay.config())
        task = asyncio.create_task(client.chat("x"))
        await asyncio.sleep(0.2)
        assert replay.open_connections() == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        deadline = time.time() + 5
        while replay.open_connections() and time.time() < deadline:
            await asyncio.sleep(0.02)
        return replay.open_connections()

    assert run(main()) == 0


def test_async_suspend_resume_and_json(replay):
    replay.push({"stream": ["x", "y", "z"], "delay_ms": 30})

    async def main():
        client = llm.AsyncClient(replay.config())
        async with await client.chat_stream("x") as stream:
            first = await stream.__anext__()
            checkpoint = await stream.suspend()
        replay.push({"stream": ["!"]})
        resumed = await client.resume(checkpoint)
        text = await resumed.text()
        replay.on({"text": '{"ok": true}'})
        j = await client.chat_with_json_output("x")
        return first, checkpoint, text, j

    first, checkpoint, text, j = run(main())
    assert first.text == "x" and checkpoint.content == "x"
    assert text == "x!"
    assert j == '{"ok": true}'
