"""openai-python (the client AIOS uses) on the same workloads as benches/compare.rs.

Run by the benchmark as a subprocess; prints one JSON object. The client is set up as AIOS
sets it up for vLLM/SGLang (base URL, placeholder key), with retries off and a connection
pool large enough for the concurrency asked.
"""

import argparse
import asyncio
import json
import time

from openai import AsyncOpenAI

try:  # openai >= 3 is built on httpx2 (same API); older releases on httpx
    import httpx2 as httpx
except ImportError:
    import httpx

MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Write one sentence about the sea."},
]


def rss_kib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def client(base_url, connections):
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return AsyncOpenAI(
        base_url=base_url,
        api_key="sk-1234",
        max_retries=0,
        http_client=httpx.AsyncClient(limits=limits, timeout=600),
    )


async def chat(c):
    r = await c.chat.completions.create(model="m", messages=MESSAGES, max_tokens=64, temperature=0.7)
    assert r.choices[0].message.content


EMBED_INPUTS = [f"Note {i}: the user prefers short answers about the sea." for i in range(16)]


async def embed(c):
    r = await c.embeddings.create(model="m", input=EMBED_INPUTS, encoding_format="float")
    assert len(r.data) == len(EMBED_INPUTS)


async def latency(c, n):
    await chat(c)  # connect once, as the others do
    times = []
    for _ in range(n):
        t = time.perf_counter()
        await chat(c)
        times.append((time.perf_counter() - t) * 1e6)
    times.sort()
    return {"p50_us": times[len(times) // 2], "p99_us": times[int(len(times) * 0.99)]}


async def throughput(c, n, concurrency, call=chat):
    left = n

    async def worker():
        nonlocal left
        while left > 0:
            left -= 1
            await call(c)

    await asyncio.gather(*(call(c) for _ in range(concurrency)))  # warm the pool
    t = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {"calls_per_s": n / (time.perf_counter() - t)}


async def one_stream(c):
    stream = await c.chat.completions.create(
        model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    events = 0
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            events += 1
    return events


async def sse(c, streams):
    await one_stream(c) if streams == 1 else None
    t = time.perf_counter()
    counts = await asyncio.gather(*(one_stream(c) for _ in range(streams)))
    return {"events_per_s": sum(counts) / (time.perf_counter() - t), "events": sum(counts)}


async def rss(c, concurrency):
    await asyncio.gather(*(chat(c) for _ in range(concurrency)))  # pool and imports warm
    before = rss_kib()
    tasks = [asyncio.create_task(chat(c)) for _ in range(concurrency)]
    await asyncio.sleep(0.5)  # the server holds every answer for a while
    during = rss_kib()
    await asyncio.gather(*tasks)
    return {"rss_per_call_kib": (during - before) / concurrency}


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base-url", required=True)
    p.add_argument("--mode", choices=["latency", "throughput", "embed", "sse", "rss"], required=True)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=1)
    a = p.parse_args()
    c = client(a.base_url, max(a.concurrency, 1) + 4)
    if a.mode == "latency":
        out = await latency(c, a.n)
    elif a.mode == "throughput":
        out = await throughput(c, a.n, a.concurrency)
    elif a.mode == "embed":
        out = await throughput(c, a.n, a.concurrency, call=embed)
    elif a.mode == "sse":
        out = await sse(c, a.concurrency)
    else:
        out = await rss(c, a.concurrency)
    print(json.dumps(out))


asyncio.run(main())
