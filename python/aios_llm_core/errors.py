"""Typed exceptions, one per WIT `error-code` case, so a program can act on what failed.

Every call raises a subclass of `LlmCoreError` carrying the WIT `error` record: `.code` (the
WIT case name), `.message`, `.status` and `.body` (when a server answered), `.backend`,
`.attempts` and `.partial` (a stream's answer so far, or an answer that failed a check, as a
`ChatResponse`). Messages never contain API keys: the component redacts them.
"""

from __future__ import annotations

import builtins
import json
from typing import Any, ClassVar, Dict, List, Optional, Type

from ._types import ChatResponse

__all__ = [
    "LlmCoreError",
    "InvalidConfigError",
    "InvalidRequestError",
    "LlmConnectionError",
    "LlmTimeoutError",
    "UnauthorizedError",
    "UnknownModelError",
    "ContextLengthExceededError",
    "RateLimitedError",
    "UnavailableError",
    "HttpStatusError",
    "MalformedResponseError",
    "InvalidOutputError",
    "TruncatedError",
    "DeniedError",
    "LimitExceededError",
    "InternalError",
    "error_from_record",
]


class LlmCoreError(Exception):
    """A failed call: the WIT `error` record."""

    code: ClassVar[str] = "internal"

    def __init__(
        self,
        message: str,
        *,
        status: Optional[int] = None,
        body: Optional[str] = None,
        backend: Optional[str] = None,
        attempts: int = 0,
        partial: Optional[ChatResponse] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body
        self.backend = backend
        self.attempts = attempts
        self.partial = partial

    def __str__(self) -> str:
        where = f", backend {self.backend}" if self.backend else ""
        status = f", HTTP {self.status}" if self.status is not None else ""
        return f"{self.code}{status}{where}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status!r}, backend={self.backend!r})"


class InvalidConfigError(LlmCoreError, ValueError):
    """The client configuration is unusable (bad URL, no backends, zero timeout, ...)."""

    code = "invalid-config"


class InvalidRequestError(LlmCoreError, ValueError):
    """The request is unusable or asks for something its backend cannot do."""

    code = "invalid-request"


class LlmConnectionError(LlmCoreError, builtins.ConnectionError):
    """No connection (refused, DNS, reset, TLS)."""

    code = "connection"


class LlmTimeoutError(LlmCoreError, builtins.TimeoutError):
    """A time limit ran out; `.kind` is `connect`, `first-byte`, `between-bytes` or `total`."""

    code = "timeout"
    kind: str = "total"


class UnauthorizedError(LlmCoreError):
    """HTTP 401/403: missing or wrong API key."""

    code = "unauthorized"


class UnknownModelError(LlmCoreError):
    """No backend serves the model; `.available` lists the models that are available."""

    code = "unknown-model"
    available: List[str] = []


class ContextLengthExceededError(LlmCoreError):
    """The prompt plus `max_tokens` exceed the model's context window."""

    code = "context-length-exceeded"


class RateLimitedError(LlmCoreError):
    """HTTP 429; `.retry_after_ms` is the server's requested wait when it sent one."""

    code = "rate-limited"
    retry_after_ms: Optional[int] = None


class UnavailableError(LlmCoreError):
    """HTTP 503, or every eligible backend is cooling down."""

    code = "unavailable"


class HttpStatusError(LlmCoreError):
    """Any other non-2xx answer; see `.status` and `.body`."""

    code = "http-status"


class MalformedResponseError(LlmCoreError):
    """The server answered 2xx with something that is not a valid completion."""

    code = "malformed-response"


class InvalidOutputError(LlmCoreError):
    """The answer is not what was asked for (JSON that does not parse, no tool call); `.partial` keeps it."""

    code = "invalid-output"


class TruncatedError(LlmCoreError):
    """A stream ended without `[DONE]` or a finish reason; `.partial` keeps what arrived."""

    code = "truncated"


class DeniedError(LlmCoreError, PermissionError):
    """The host's sandbox refused the destination (an origin not configured or allowed)."""

    code = "denied"


class LimitExceededError(LlmCoreError):
    """A limit was hit: response size, memory, CPU time or concurrency."""

    code = "limit-exceeded"


class InternalError(LlmCoreError):
    """A fault inside the component or host (a bug)."""

    code = "internal"


_BY_CODE: Dict[str, Type[LlmCoreError]] = {
    cls.code: cls
    for cls in (
        InvalidConfigError,
        InvalidRequestError,
        LlmConnectionError,
        LlmTimeoutError,
        UnauthorizedError,
        UnknownModelError,
        ContextLengthExceededError,
        RateLimitedError,
        UnavailableError,
        HttpStatusError,
        MalformedResponseError,
        InvalidOutputError,
        TruncatedError,
        DeniedError,
        LimitExceededError,
        InternalError,
    )
}


def error_from_record(record: Any) -> LlmCoreError:
    """The exception for an error record (a dict, or its JSON text, as the extension gives it)."""
    r: Dict[str, Any] = json.loads(record) if isinstance(record, str) else record
    cls = _BY_CODE.get(r.get("kind", "internal"), InternalError)
    partial = r.get("partial")
    e = cls(
        r.get("message", ""),
        status=r.get("status"),
        body=r.get("body"),
        backend=r.get("backend"),
        attempts=r.get("attempts", 0),
        partial=ChatResponse.from_dict(partial) if partial else None,
    )
    if isinstance(e, LlmTimeoutError):
        e.kind = r.get("timeout") or "total"
    elif isinstance(e, UnknownModelError):
        e.available = list(r.get("available_models") or [])
    elif isinstance(e, RateLimitedError):
        e.retry_after_ms = r.get("retry_after_ms")
    return e
