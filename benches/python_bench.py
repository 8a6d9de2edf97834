"""The Python package (aios_llm_core: the component in the wasmtime host, bound with PyO3)
against openai-python (the client AIOS uses), on the same workloads in one run, against one
loopback replay server (`replay-serve`): plain chats at 1 and 16 in flight, and one SSE
stream (64 events per write). Rounds alternate between the clients; figures are the median of the rounds.

Run by `scripts/bench-python` (which builds the package and installs openai-python), or:
python benches/python_bench.py --replay-serve PATH [--rounds 3] [--json OUT]
"""

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import time

import httpx2 as httpx
from openai import AsyncOpenAI

import aios_llm_core as llm

MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Write one sentence about the sea."},
]
SENTENCE = "The sea breathes against the shore, patient and endless, keeping every secret the tide has ever carried."
STREAM_EVENTS = 2000


def sse_parts():
    """A vLLM-shaped stream of STREAM_EVENTS content events, 64 per write (as benches/compare)."""

    def event(payload):
        return f"data: {json.dumps(payload)}\n\n"

    def chunk(delta, finish=None):
        return {"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    token = event(chunk({"content": " tok"}))
    parts = [event(chunk({"role": "assistant", "content": ""}))]
    parts += [token * 64] * (STREAM_EVENTS // 64) + [token * (STREAM_EVENTS % 64)]
    return parts + [event(chunk({}, "stop")) + "data: [DONE]\n\n"]


class Server:
    def __init__(self, binary):
        self.proc = subprocess.Popen([binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.base_url = self.proc.stdout.readline().strip()

    def command(self, c):
        self.proc.stdin.write(json.dumps(c) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())


async def throughput(call, n, concurrency):
    left = n

    async def worker():
        nonlocal left
        while left > 0:
            left -= 1
            await call()

    await asyncio.gather(*(call() for _ in range(concurrency)))  # warm pools and instances
    t = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - t)


def sync_throughput(call, n):
    call()
    t = time.perf_counter()
    for _ in range(n):
        call()
    return n / (time.perf_counter() - t)


def clients(base_url, stream_url):
    config = {"backends": [{"kind": "vllm", "base_url": base_url, "models": ["m"]}], "retry": {"max_attempts": 1}}
    stream_config = {"backends": [{"kind": "vllm", "base_url": stream_url, "models": ["m"]}]}
    core_async = llm.AsyncClient(config)
    core_sync = llm.Client(config)
    core_stream = llm.AsyncClient(stream_config)
    limits = httpx.Limits(max_connections=20, max_keepalive_connections=20)
    oa = AsyncOpenAI(base_url=base_url, api_key="sk-1234", max_retries=0, http_client=httpx.AsyncClient(limits=limits, timeout=600))
    oa_stream = AsyncOpenAI(base_url=stream_url, api_key="sk-1234", max_retries=0)

    async def core_chat():
        r = await core_async.chat(MESSAGES, model="m", max_tokens=64, temperature=0.7)
        assert r.content

    def core_chat_sync():
        assert core_sync.chat(MESSAGES, model="m", max_tokens=64, temperature=0.7).content

    async def oa_chat():
        r = await oa.chat.completions.create(model="m", messages=MESSAGES, max_tokens=64, temperature=0.7)
        assert r.choices[0].message.content

    async def core_sse():
        n = 0
        async for e in await core_stream.chat_stream(MESSAGES, model="m"):
            n += isinstance(e, llm.ContentDelta)
        return n

    async def oa_sse():
        n = 0
        stream = await oa_stream.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async for chunk in stream:
            n += bool(chunk.choices and chunk.choices[0].delta.content)
        return n

    return core_chat, core_chat_sync, oa_chat, core_sse, oa_sse


async def events_per_s(stream):
    await stream()
    t = time.perf_counter()
    n = await stream()
    assert n == STREAM_EVENTS, n
    return n / (time.perf_counter() - t)


async def round_(fns, n1, n16):
    core_chat, core_chat_sync, oa_chat, core_sse, oa_sse = fns
    out = {}
    out["core_1"] = await throughput(core_chat, n1, 1)
    out["openai_1"] = await throughput(oa_chat, n1, 1)
    out["core_16"] = await throughput(core_chat, n16, 16)
    out["openai_16"] = await throughput(oa_chat, n16, 16)
    out["core_sync_1"] = await asyncio.to_thread(sync_throughput, core_chat_sync, n1)
    out["core_sse"] = await events_per_s(core_sse)
    out["openai_sse"] = await events_per_s(oa_sse)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--replay-serve", required=True)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--n", type=int, default=1000, help="calls per figure at 1 in flight (x4 at 16)")
    p.add_argument("--json")
    a = p.parse_args()
    chat, stream = Server(a.replay_serve), Server(a.replay_serve)
    chat.command({"quiet": True})
    chat.command({"on": "/v1/chat/completions", "reply": {"text": SENTENCE}})
    stream.command({"quiet": True})
    stream.command({"on": "/v1/chat/completions", "reply": {"sse_raw": sse_parts()}})
    fns = clients(chat.base_url, stream.base_url)

    async def run():
        return [await round_(fns, a.n, 4 * a.n) for _ in range(a.rounds)]

    rounds = asyncio.run(run())
    med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    import openai

    rows = [
        ("chats, 1 in flight (asyncio)", "calls/s", med["core_1"], med["openai_1"]),
        ("chats, 16 in flight (asyncio)", "calls/s", med["core_16"], med["openai_16"]),
        ("chats, 1 in flight (blocking Client)", "calls/s", med["core_sync_1"], med["openai_1"]),
        (f"SSE, 1 stream of {STREAM_EVENTS} events", "events/s", med["core_sse"], med["openai_sse"]),
    ]
    print(f"Python {platform.python_version()}, openai {openai.__version__}, {os.cpu_count()} CPUs, median of {a.rounds} rounds")
    print("| figure | unit | aios_llm_core | openai-python | ratio |")
    print("|---|---|---:|---:|---:|")
    for name, unit, core, oa in rows:
        print(f"| {name} | {unit} | {core:,.0f} | {oa:,.0f} | {core / oa:.1f}× |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"median": med, "rounds": rounds}, f, indent=1)


main()
