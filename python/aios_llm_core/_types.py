"""The records calls return, as dataclasses built from the extension's JSON (the CLI's
`--json` shapes): responses, stream events, token counts, embeddings, models, health and
checkpoints. Names follow the WIT (`wit/llm.wit`), in snake case.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union


@dataclass(frozen=True)
class ToolCall:
    """A call of a tool by the model; `arguments` is the decoded JSON object."""

    id: str
    name: str
    arguments: Dict[str, Any]

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "ToolCall":
        return cls(id=d["id"], name=d["name"], arguments=d["arguments"])

    @property
    def arguments_json(self) -> str:
        """The arguments as JSON text (what an OpenAI-shaped message carries)."""
        return json.dumps(self.arguments)


@dataclass(frozen=True)
class InvalidToolCall:
    """A tool call whose arguments are not a JSON object; kept so it can be repaired."""

    id: str
    name: str
    raw_arguments: str
    error: str


@dataclass(frozen=True)
class Usage:
    """Token accounting, as reported by the server."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    reasoning_tokens: Optional[int] = None
    cached_tokens: Optional[int] = None


@dataclass(frozen=True)
class TopLogprob:
    token: str
    logprob: float


@dataclass(frozen=True)
class TokenLogprob:
    """A generated token's log probability, with the most likely alternatives."""

    token: str
    logprob: float
    top: List[TopLogprob] = field(default_factory=list)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "TokenLogprob":
        return cls(d["token"], d["logprob"], [TopLogprob(t["token"], t["logprob"]) for t in d.get("top", [])])


def _logprobs(items: Optional[List[Dict[str, Any]]]) -> List[TokenLogprob]:
    return [TokenLogprob.from_dict(t) for t in items or []]


@dataclass(frozen=True)
class ChatResponse:
    """A completed chat. `finish_reason` uses OpenAI's spellings (`stop`, `length`, `tool_calls`, ...)."""

    content: Optional[str]
    model: str
    backend: str
    id: Optional[str] = None
    reasoning: Optional[str] = None
    tool_calls: List[ToolCall] = field(default_factory=list)
    invalid_tool_calls: List[InvalidToolCall] = field(default_factory=list)
    finish_reason: Optional[str] = None
    usage: Optional[Usage] = None
    earlier_backends: List[str] = field(default_factory=list)
    logprobs: List[TokenLogprob] = field(default_factory=list)
    attempts: int = 1

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "ChatResponse":
        usage = d.get("usage")
        return cls(
            content=d.get("content"),
            model=d.get("model", ""),
            backend=d.get("backend", ""),
            id=d.get("id"),
            reasoning=d.get("reasoning"),
            tool_calls=[ToolCall.from_dict(c) for c in d.get("tool_calls") or []],
            invalid_tool_calls=[InvalidToolCall(**c) for c in d.get("invalid_tool_calls") or []],
            finish_reason=d.get("finish_reason"),
            usage=Usage(**usage) if usage else None,
            earlier_backends=list(d.get("earlier_backends") or []),
            logprobs=_logprobs(d.get("logprobs")),
            attempts=d.get("attempts", 1),
        )


@dataclass(frozen=True)
class ContentDelta:
    """The next piece of answer text."""

    text: str
    type: str = "content"


@dataclass(frozen=True)
class ReasoningDelta:
    """The next piece of reasoning text."""

    text: str
    type: str = "reasoning"


@dataclass(frozen=True)
class ToolCallDelta:
    """The next piece of a tool call: `index` says which call; `id` and `name` come first."""

    index: int
    id: Optional[str]
    name: Optional[str]
    arguments: str
    type: str = "tool_call"


@dataclass(frozen=True)
class LogprobsDelta:
    """Log probabilities of the tokens that arrived with the preceding text."""

    tokens: List[TokenLogprob]
    type: str = "logprobs"


@dataclass(frozen=True)
class Done:
    """The final, assembled response; always the last event."""

    response: ChatResponse
    type: str = "done"


StreamEvent = Union[ContentDelta, ReasoningDelta, ToolCallDelta, LogprobsDelta, Done]


def event_from_dict(d: Dict[str, Any]) -> StreamEvent:
    kind = d["type"]
    if kind == "content":
        return ContentDelta(d["text"])
    if kind == "reasoning":
        return ReasoningDelta(d["text"])
    if kind == "tool_call":
        return ToolCallDelta(d["index"], d.get("id"), d.get("name"), d.get("arguments", ""))
    if kind == "logprobs":
        return LogprobsDelta(_logprobs(d.get("tokens")))
    return Done(ChatResponse.from_dict(d["response"]))


@dataclass(frozen=True)
class TokenCount:
    """A request's prompt size as the server counts it, chat template and tools included."""

    prompt_tokens: int
    model: str
    backend: str
    max_model_len: Optional[int] = None


@dataclass(frozen=True)
class Embeddings:
    """Embedding vectors, one per input, in input order."""

    vectors: List[List[float]]
    model: str
    backend: str
    attempts: int
    usage: Optional[Usage] = None

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Embeddings":
        usage = d.get("usage")
        return cls(d["vectors"], d["model"], d["backend"], d["attempts"], Usage(**usage) if usage else None)


@dataclass(frozen=True)
class ModelInfo:
    """A model a backend serves."""

    id: str
    backend: str
    owned_by: Optional[str] = None
    max_model_len: Optional[int] = None


@dataclass(frozen=True)
class BackendHealth:
    """State of one backend; `error` is the error record (a dict) when it is not healthy."""

    backend: str
    base_url: str
    healthy: bool
    latency_ms: Optional[int] = None
    load: Optional[int] = None
    models: List[str] = field(default_factory=list)
    cooldown_ms: Optional[int] = None
    error: Optional[Dict[str, Any]] = None


@dataclass(frozen=True)
class Checkpoint:
    """A suspended generation: the request and what it produced so far. Plain data: `to_json()`
    gives the CLI's checkpoint file format (`llm-core chat --resume FILE` reads it), and any
    process can resume it with `Client.resume`."""

    data: Dict[str, Any]

    @property
    def content(self) -> str:
        """The answer text delivered before the suspension."""
        return str(self.data["generated"]["content"])

    @property
    def reasoning(self) -> str:
        return str(self.data["generated"]["reasoning"])

    def to_json(self) -> str:
        return json.dumps(self.data)

    @classmethod
    def from_json(cls, text: str) -> "Checkpoint":
        return cls(json.loads(text))

    def __repr__(self) -> str:
        return f"Checkpoint(content={self.content!r}, backends={self.data['generated'].get('backends')!r})"
