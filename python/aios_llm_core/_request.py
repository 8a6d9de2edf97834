"""Builds the extension's request JSON (the `chat-request` record as the CLI's checkpoint
files spell it) from what Python callers have: OpenAI-shaped messages, tools, tool choice
and response formats — the shapes AIOS passes — plus keyword arguments for every other
field of the WIT request.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

Messages = Union[str, Sequence[Mapping[str, Any]]]

_SAMPLING = (
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "max_tokens",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "repetition_penalty",
)
_PLAIN = (
    "model",
    "parallel_tool_calls",
    "recover_tool_calls",
    "split_reasoning",
    "timeout_ms",
    "request_id",
    "priority",
    "session_id",
    "cache_salt",
    "logprobs",
)
#: Keyword arguments every chat call takes (besides `messages`).
OPTIONS = frozenset(_SAMPLING + _PLAIN + ("stop", "tools", "tool_choice", "response_format", "extra_body"))


def _text(value: Any) -> str:
    """JSON text of a value given as a dict/list, or as text already."""
    return value if isinstance(value, str) else json.dumps(value)


def _part(p: Any) -> Dict[str, Any]:
    if isinstance(p, str):
        return {"text": p}
    kind = p.get("type")
    if kind == "text":
        return {"text": p["text"]}
    if kind == "image_url":
        url = p["image_url"]
        return {"image_url": url["url"] if isinstance(url, Mapping) else url}
    if kind == "image":
        data = p["data"]
        encoded = data if isinstance(data, str) else base64.b64encode(bytes(data)).decode("ascii")
        return {"image": {"mime_type": p["mime_type"], "base64": encoded}}
    raise ValueError(f"unsupported content part type {kind!r} (text, image_url or image)")


def _tool_call(c: Mapping[str, Any]) -> Dict[str, Any]:
    f = c.get("function", c)
    return {"id": c.get("id", ""), "name": f["name"], "arguments": _text(f.get("arguments", f.get("parameters", {})))}


def message(m: Mapping[str, Any]) -> Dict[str, Any]:
    """One OpenAI-shaped message (`role`, `content` as text or parts, `name`, `tool_calls`,
    `tool_call_id`) as the request record's message."""
    out: Dict[str, Any] = {"role": m["role"]}
    content = m.get("content")
    if isinstance(content, (list, tuple)):
        out["parts"] = [_part(p) for p in content]
    elif content is not None:
        out["content"] = str(content)
    if m.get("parts"):
        out["parts"] = [_part(p) for p in m["parts"]]
    if m.get("name") is not None:
        out["name"] = m["name"]
    if m.get("tool_calls"):
        out["tool_calls"] = [_tool_call(c) for c in m["tool_calls"]]
    if m.get("tool_call_id") is not None:
        out["tool_call_id"] = m["tool_call_id"]
    return out


def messages(ms: Messages) -> List[Dict[str, Any]]:
    if isinstance(ms, str):
        return [{"role": "user", "content": ms}]
    return [message(m) for m in ms]


def tool(t: Mapping[str, Any]) -> Dict[str, Any]:
    """An OpenAI-shaped tool (`{"type":"function","function":{...}}`) or a bare `{name, description, parameters}`."""
    f = t.get("function", t)
    out: Dict[str, Any] = {"name": f["name"]}
    if f.get("description") is not None:
        out["description"] = f["description"]
    if f.get("parameters") is not None:
        out["parameters"] = _text(f["parameters"])
    return out


def tool_choice(c: Any) -> Any:
    """`auto`, `none`, `required`, a tool's name, or OpenAI's `{"type":"function","function":{"name"}}`."""
    if isinstance(c, Mapping):
        return {"named": c.get("function", c)["name"]}
    if c in ("auto", "none", "required"):
        return c
    return {"named": str(c)}


def response_format(f: Any) -> Any:
    """OpenAI's `{"type": "text" | "json_object" | "json_schema", "json_schema": {...}}`, or
    this core's `{"type": "regex", "regex": R}`, `{"type": "choice", "choice": [...]}`,
    `{"type": "grammar", "grammar": G}`."""
    kind = f["type"] if isinstance(f, Mapping) else f
    if kind in ("text", "json_object"):
        return kind
    if kind == "json_schema":
        s = f["json_schema"]
        out: Dict[str, Any] = {"name": s.get("name", "output"), "schema": _text(s["schema"])}
        if s.get("description") is not None:
            out["description"] = s["description"]
        if s.get("strict") is not None:
            out["strict"] = bool(s["strict"])
        return {"json_schema": out}
    if kind in ("regex", "grammar"):
        return {kind: f[kind]}
    if kind == "choice":
        return {"choice": list(f["choice"])}
    raise ValueError(f"unsupported response_format type {kind!r}")


def build(ms: Messages, options: Mapping[str, Any]) -> Dict[str, Any]:
    """The request record for `messages` and the call's keyword arguments."""
    unknown = set(options) - OPTIONS
    if unknown:
        raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(unknown))}")
    req: Dict[str, Any] = {"messages": messages(ms)}
    sampling = {k: options[k] for k in _SAMPLING if options.get(k) is not None}
    stop = options.get("stop")
    if stop:
        sampling["stop"] = [stop] if isinstance(stop, str) else list(stop)
    if sampling:
        req["sampling"] = sampling
    for k in _PLAIN:
        if options.get(k) is not None:
            req[k] = options[k]
    if options.get("tools"):
        req["tools"] = [tool(t) for t in options["tools"]]
    if options.get("tool_choice") is not None:
        req["tool_choice"] = tool_choice(options["tool_choice"])
    if options.get("response_format") is not None:
        req["response_format"] = response_format(options["response_format"])
    if options.get("extra_body") is not None:
        req["extra_body"] = _text(options["extra_body"])
    return req


def embed(inputs: Union[str, Iterable[str]], options: Mapping[str, Any]) -> Dict[str, Any]:
    req: Dict[str, Any] = {"inputs": [inputs] if isinstance(inputs, str) else list(inputs)}
    for k in ("model", "dimensions", "batch_size", "timeout_ms"):
        if options.get(k) is not None:
            req[k] = options[k]
    return req
