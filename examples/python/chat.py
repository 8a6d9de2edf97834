"""Call the aios:llm component from Python with wasmtime-py.

Usage:
    python examples/python/chat.py COMPONENT.wasm BASE_URL "prompt" [--model NAME] [--max-tokens N]

    COMPONENT.wasm  the built component (target/guest/wasm32-wasip2/guest/aios_llm_core.wasm)
    BASE_URL        OpenAI API root of a server, e.g. http://127.0.0.1:8000/v1

The script loads the component with the WASI 0.2 and wasi:http implementations that ship
inside wasmtime-py, opens a `client` with one `openai-compatible` backend, sends one chat
and prints the answer and token usage, counts the prompt's tokens as the server does, then
streams the same prompt with `chat-stream.blocking-next`, printing each delta until the
stream ends. A failed call
prints the WIT `error` (code and message) and exits with status 1.

How wasmtime-py (>= 46) maps WIT values to Python:
  * record   -> `wasmtime.component.Record`, fields as attributes under their WIT
                (kebab-case) names: `getattr(resp, "finish-reason")`.
  * enum     -> `str` ("openai-compatible", "user").
  * option   -> `None` or the value.
  * variant  -> `Variant(tag, payload)`, when cases cannot be told apart by Python type
                (true of every variant in this API).
  * result   -> `Variant("ok" | "err", payload)` when ok and err are the same Python type
                (chat: record / record), otherwise the bare payload (open: a resource or an
                error record). `call()` below hides the difference.
  * resource -> `ResourceAny`; pass it as `self` to "[method]..." functions and release
                it with `.drop(store)`.
"""

from __future__ import annotations

import argparse
import sys

from wasmtime import Engine, Store, WasiConfig
from wasmtime.component import Component, Linker, Record, ResultType, Variant

INTERFACE = "aios:llm/llm-core@0.1.0"


class LlmError(Exception):
    """A WIT `error` returned by the component."""

    def __init__(self, err: Record):
        self.err = err
        super().__init__(f"{show_variant(err.code)}: {err.message}")


def record(**fields) -> Record:
    """A WIT record; Python names map to WIT names (`base_url` -> `base-url`)."""
    r = Record()
    for name, value in fields.items():
        setattr(r, name.replace("_", "-"), value)
    return r


def show_variant(v) -> str:
    """`Variant("timeout", "first-byte")` -> "timeout(first-byte)"."""
    if not isinstance(v, Variant):
        return str(v)
    return v.tag if v.payload is None else f"{v.tag}({v.payload})"


def python_classes(ty) -> set:
    classes: set = set()
    if ty is None:
        classes.add(object)
    else:
        ty.add_classes(classes)
    return classes


class LlmCore:
    """The exported `llm-core` interface of one component instance."""

    def __init__(self, wasm_path: str):
        engine = Engine()
        component = Component.from_file(engine, wasm_path)
        linker = Linker(engine)
        linker.add_wasip2()      # wasi:io, clocks, random, cli, ...
        linker.add_wasi_http()   # wasi:http/types + outgoing-handler
        self.store = Store(engine)
        wasi = WasiConfig()
        wasi.inherit_stdout()
        wasi.inherit_stderr()
        self.store.set_wasi(wasi)     # must come before set_wasi_http()
        self.store.set_wasi_http()
        self.instance = linker.instantiate(self.store, component)
        self.iface = self.instance.get_export_index(self.store, INTERFACE)
        if self.iface is None:
            raise RuntimeError(f"component does not export {INTERFACE}")

    def call(self, name: str, *args):
        """Calls e.g. "[method]client.chat"; returns the ok value or raises LlmError."""
        index = self.instance.get_export_index(self.store, name, self.iface)
        func = self.instance.get_func(self.store, index) if index else None
        if func is None:
            raise RuntimeError(f"{INTERFACE} has no function {name}")
        out = func(self.store, *args)
        ty = func.type(self.store).result
        if not isinstance(ty, ResultType):
            return out
        # wasmtime-py tags a result only when ok and err lower to the same Python class.
        if python_classes(ty.ok) & python_classes(ty.err):
            failed, out = out.tag == "err", out.payload
        else:
            failed = isinstance(out, tuple(python_classes(ty.err)))
        if failed:
            raise LlmError(out)
        return out


def client_config(base_url: str) -> Record:
    backend = record(
        name=None, kind="openai-compatible", base_url=base_url, api_key=None,
        models=[],  # empty: discovered with GET /models on first use
        weight=None, legacy_guided_decoding=None,
    )
    return record(
        backends=[backend],
        default_model=None,
        timeouts=record(connect_ms=None, first_byte_ms=None, between_bytes_ms=None,
                        total_ms=60_000),
        retry=record(max_attempts=None, initial_backoff_ms=None, max_backoff_ms=None,
                     max_retry_after_ms=None, resume_streams=None),
        routing=None,
        cooldown=record(base_ms=None, max_ms=None, probe_health=None),
        discovery_ttl_ms=None, metrics_ttl_ms=None, max_response_bytes=None,
        routing_seed=None, cache_aware_margin=None, session_header=None,
    )


def chat_request(prompt: str, model: str | None, max_tokens: int) -> Record:
    message = record(role="user", content=prompt, name=None, tool_calls=[], tool_call_id=None,
                     parts=[])
    sampling = record(
        temperature=None, top_p=None, top_k=None, min_p=None, max_tokens=max_tokens,
        stop=[], seed=None, presence_penalty=None, frequency_penalty=None,
        repetition_penalty=None,
    )
    return record(
        messages=[message], model=model, sampling=sampling, tools=[], tool_choice=None,
        parallel_tool_calls=None, response_format=None, recover_tool_calls=None,
        split_reasoning=None, extra_body=None, timeout_ms=None, routing_ticket=None,
        request_id=None, priority=None, continue_from=None, logprobs=None, session_id=None,
        cache_salt=None,
    )


def show_usage(resp: Record) -> str:
    u = resp.usage
    if u is None:
        return "usage: not reported"
    return (f"usage: prompt={getattr(u, 'prompt-tokens')} "
            f"completion={getattr(u, 'completion-tokens')} total={getattr(u, 'total-tokens')}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("component")
    ap.add_argument("base_url")
    ap.add_argument("prompt")
    ap.add_argument("--model", help="model name (default: the first model the server lists)")
    ap.add_argument("--max-tokens", type=int, default=16)
    args = ap.parse_args()

    llm = LlmCore(args.component)
    store = llm.store
    request = chat_request(args.prompt, args.model, args.max_tokens)
    client = stream = None
    try:
        client = llm.call("[static]client.open", client_config(args.base_url))

        # --- one chat -------------------------------------------------------------------
        resp = llm.call("[method]client.chat", client, request)
        print(f"== chat (model {resp.model}, backend {resp.backend}, "
              f"attempts {resp.attempts}, finish {show_variant(getattr(resp, 'finish-reason'))})")
        print(f"content: {resp.content!r}")
        print(show_usage(resp))

        # --- the same request counted by the server (chat template included) --------------
        count = llm.call("[method]client.count-tokens", client, request)
        print(f"== count-tokens: {getattr(count, 'prompt-tokens')} prompt tokens "
              f"(model {count.model}, context {getattr(count, 'max-model-len')})")

        # --- the same prompt, streamed ----------------------------------------------------
        print("== chat-stream")
        stream = llm.call("[method]client.chat-stream", client, request)
        while True:
            events = llm.call("[method]chat-stream.blocking-next", stream)
            if not events:  # empty list: the stream has ended
                break
            for ev in events:
                if ev.tag in ("content", "reasoning"):
                    print(f"{ev.tag} delta: {ev.payload!r}")
                elif ev.tag == "tool-call":
                    print(f"tool-call delta: {ev.payload.__dict__}")
                elif ev.tag == "done":
                    final = ev.payload
                    print(f"done: content={final.content!r} "
                          f"finish={show_variant(getattr(final, 'finish-reason'))}")
                    print(show_usage(final))
        return 0
    except LlmError as e:
        err = e.err
        print(f"error: {show_variant(err.code)}: {err.message} "
              f"(backend {err.backend}, attempts {err.attempts})", file=sys.stderr)
        if err.status is not None:
            print(f"  http status {err.status}, body {err.body!r}", file=sys.stderr)
        return 1
    finally:
        # Resources live in the store until dropped; the stream before its client.
        for res in (stream, client):
            if res is not None:
                res.drop(store)


if __name__ == "__main__":
    sys.exit(main())
