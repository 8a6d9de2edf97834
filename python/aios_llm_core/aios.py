"""A drop-in for AIOS's vLLM/SGLang backend call path (`aios/llm_core/adapter.py` in the
AIOS kernel), where AIOS builds an OpenAI client per `llms.models` entry and calls
`chat.completions.create`.

`LlmCoreBackend` takes what that path receives — the model name, OpenAI-shaped `messages`,
OpenAI-shaped `tools`, `message_return_type` (`"text"` or `"json"`), `response_format`,
`temperature`, `max_tokens` — and returns what AIOS expects: the answer text; tool calls as
`[{"name", "parameters", "id"}]` (what AIOS's `decode_litellm_tool_calls` produces, names
with `/` restored); or the JSON text for `"json"`. `respond` does the whole syscall and
returns the fields of AIOS's `LLMResponse`, failures mapped to AIOS's status codes. The
README's "Python" section shows the wiring.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from .client import Client
from .config import ClientConfig, ConfigSource, HostOptions
from .errors import LlmCoreError

__all__ = ["LlmCoreBackend", "status_code"]

#: AIOS's status codes for failures (its `_handle_completion_error`): authentication 401,
#: rate limit 429, bad request 400, timeout 408, connection 503, not found 404, other API
#: errors 502, anything else 500.
_STATUS = {
    "unauthorized": 401,
    "rate-limited": 429,
    "invalid-request": 400,
    "context-length-exceeded": 400,
    "timeout": 408,
    "connection": 503,
    "unavailable": 503,
    "unknown-model": 404,
    "http-status": 502,
    "malformed-response": 502,
    "truncated": 502,
    "invalid-output": 502,
    "denied": 500,
    "limit-exceeded": 500,
    "invalid-config": 500,
    "internal": 500,
}


def status_code(e: BaseException) -> int:
    """The status code AIOS reports for this failure."""
    return _STATUS.get(e.code, 500) if isinstance(e, LlmCoreError) else 500


Answer = Union[str, List[Dict[str, Any]]]


class LlmCoreBackend:
    """One AIOS vLLM/SGLang backend, served by this core (retries, timeouts, failover,
    tool-call recovery and the host's sandbox included)."""

    def __init__(self, config: ConfigSource, host: Optional[HostOptions] = None) -> None:
        self.client = Client(config, host)

    @classmethod
    def for_aios_model(
        cls, backend: str, hostname: str, name: Optional[str] = None, api_key: Optional[str] = None
    ) -> "LlmCoreBackend":
        """From one `llms.models` entry of AIOS's config.yaml (`backend`: vllm or sglang)."""
        entry = {"backend": backend, "hostname": hostname, "name": name or "default"}
        if api_key:
            entry["api_key"] = api_key
        return cls(ClientConfig.from_dict({"llms": {"models": [entry]}}))

    def get_model_response(
        self,
        model_name: Optional[str],
        messages: Sequence[Mapping[str, Any]],
        tools: Optional[Sequence[Mapping[str, Any]]] = None,
        message_return_type: Optional[str] = "text",
        response_format: Optional[Mapping[str, Any]] = None,
        temperature: Optional[float] = 1.0,
        max_tokens: Optional[int] = 1000,
    ) -> Tuple[Answer, bool]:
        """AIOS's `_get_model_response` for this backend: `(answer, finished)`. Raises
        `LlmCoreError` subclasses on failure (see `status_code`)."""
        options: Dict[str, Any] = {"model": model_name, "temperature": temperature, "max_tokens": max_tokens}
        if tools:
            # AIOS offers tools with `tool_choice` left to the server (`auto`): the model
            # may answer in text instead, which comes back as text.
            answer = self.client.chat(messages, tools=list(tools), **options)
            if answer.tool_calls:
                calls = [{"name": c.name, "parameters": c.arguments, "id": c.id} for c in answer.tool_calls]
                return calls, True
            return answer.content or "", True
        if message_return_type == "json":
            fmt = response_format or {"type": "json_object"}
            return self.client.chat_with_json_output(messages, response_format=fmt, **options), True
        return self.client.chat(messages, **options).content or "", True

    def respond(self, model_name: Optional[str], query: Any) -> Dict[str, Any]:
        """A whole LLM syscall: `query` is AIOS's `LLMQuery` (or a dict with its fields:
        `messages`, `tools`, `message_return_type`, `response_format`, `temperature`,
        `max_new_tokens`). Returns the keyword arguments of AIOS's `LLMResponse`:
        `response_message`, `tool_calls`, `finished`, `error`, `status_code`. Never raises
        for a failed call."""

        def field(name: str, default: Any = None) -> Any:
            value = query.get(name) if isinstance(query, Mapping) else getattr(query, name, None)
            return default if value is None else value

        try:
            answer, finished = self.get_model_response(
                model_name,
                field("messages", []),
                tools=field("tools"),
                message_return_type=field("message_return_type", "text"),
                response_format=field("response_format"),
                temperature=field("temperature", 1.0),
                max_tokens=field("max_new_tokens", 1000),
            )
        except LlmCoreError as e:
            return {"response_message": None, "tool_calls": None, "finished": True, "error": str(e), "status_code": status_code(e)}
        if isinstance(answer, list):
            return {"response_message": None, "tool_calls": answer, "finished": finished, "error": None, "status_code": 200}
        return {"response_message": answer, "tool_calls": None, "finished": finished, "error": None, "status_code": 200}
