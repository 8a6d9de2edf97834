"""`Client` (blocking) and `AsyncClient` (asyncio): every call of the WIT `client`, with
OpenAI-shaped messages, tools and response formats, keyword arguments for the rest of the
request, dataclass results and typed exceptions. Both run the same component in the same
sandbox: a client reaches only its configured backends (or `HostOptions.allowed_origins`).
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterable, List, Optional, Union

from . import _native, _request
from ._aio import run
from ._request import Messages
from ._stream import AsyncChatStream, ChatStream
from ._types import BackendHealth, ChatResponse, Checkpoint, Embeddings, ModelInfo, TokenCount, ToolCall
from .config import ClientConfig, ConfigSource, HostOptions
from .errors import error_from_record

CheckpointLike = Union[Checkpoint, Dict[str, Any], str]


def _checkpoint_json(c: CheckpointLike) -> str:
    if isinstance(c, Checkpoint):
        return c.to_json()
    return c if isinstance(c, str) else json.dumps(c)


def _open(config: ConfigSource, host: Optional[HostOptions]) -> "_native.Client":
    kind, text = ClientConfig.of(config)._native_args()
    try:
        return _native.Client(kind, text, (host or HostOptions()).to_json())
    except _native.NativeError as e:
        raise error_from_record(e.args[0]) from None


def _tool_calls(text: str) -> List[ToolCall]:
    return [ToolCall.from_dict(c) for c in json.loads(text)]


class _Base:
    _native: "_native.Client"

    @property
    def allowed_origins(self) -> List[str]:
        """The origins this client's component may reach."""
        return list(self._native.allowed_origins())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._native.summary()})"


class Client(_Base):
    """A blocking client of one or more backends; safe to share between threads (concurrent
    calls run on separate component instances)."""

    def __init__(self, config: ConfigSource, host: Optional[HostOptions] = None) -> None:
        self._native = _open(config, host)

    def _call(self, op: str, arg: str = "") -> Any:
        try:
            return self._native.call(op, arg)
        except _native.NativeError as e:
            raise error_from_record(e.args[0]) from None

    def chat(self, messages: Messages, **options: Any) -> ChatResponse:
        """One chat completion (AIOS `llm_chat`)."""
        req = json.dumps(_request.build(messages, options))
        return ChatResponse.from_dict(json.loads(self._call("chat", req)))

    def chat_with_json_output(self, messages: Messages, **options: Any) -> str:
        """The answer as JSON text that parses (AIOS `llm_chat_with_json_output`); `json_object`
        unless `response_format` asks for a schema."""
        return str(json.loads(self._call("chat-with-json-output", json.dumps(_request.build(messages, options)))))

    def chat_with_tool_call_output(self, messages: Messages, **options: Any) -> List[ToolCall]:
        """The decoded tool calls (AIOS `llm_chat_with_tool_call_output`); an answer without a
        valid call raises `InvalidOutputError` carrying it."""
        return _tool_calls(self._call("chat-with-tool-call-output", json.dumps(_request.build(messages, options))))

    def chat_stream(self, messages: Messages, **options: Any) -> ChatStream:
        """A streamed chat, returned once its first event has arrived; iterate it for events."""
        return ChatStream(self._call("chat-stream", json.dumps(_request.build(messages, options))))

    def resume(self, checkpoint: CheckpointLike) -> ChatStream:
        """Continues a suspended generation, on any backend that serves its model."""
        return ChatStream(self._call("resume", _checkpoint_json(checkpoint)))

    def count_tokens(self, messages: Messages, **options: Any) -> TokenCount:
        """The prompt tokens the request would use, as the server counts them."""
        return TokenCount(**json.loads(self._call("count-tokens", json.dumps(_request.build(messages, options)))))

    def embed(self, inputs: Union[str, Iterable[str]], **options: Any) -> Embeddings:
        """Embedding vectors, one per input (`model`, `dimensions`, `batch_size`, `timeout_ms`)."""
        return Embeddings.from_dict(json.loads(self._call("embed", json.dumps(_request.embed(inputs, options)))))

    def list_models(self) -> List[ModelInfo]:
        return [ModelInfo(**m) for m in json.loads(self._call("list-models"))]

    def health(self) -> List[BackendHealth]:
        return [BackendHealth(**h) for h in json.loads(self._call("health"))]


class AsyncClient(_Base):
    """The asyncio client: the same calls as `Client`, awaited without blocking the event loop."""

    def __init__(self, config: ConfigSource, host: Optional[HostOptions] = None) -> None:
        self._native = _open(config, host)

    async def _call(self, op: str, arg: str = "") -> Any:
        return await run(lambda callback: self._native.start(op, arg, callback))

    async def chat(self, messages: Messages, **options: Any) -> ChatResponse:
        req = json.dumps(_request.build(messages, options))
        return ChatResponse.from_dict(json.loads(await self._call("chat", req)))

    async def chat_with_json_output(self, messages: Messages, **options: Any) -> str:
        req = json.dumps(_request.build(messages, options))
        return str(json.loads(await self._call("chat-with-json-output", req)))

    async def chat_with_tool_call_output(self, messages: Messages, **options: Any) -> List[ToolCall]:
        req = json.dumps(_request.build(messages, options))
        return _tool_calls(await self._call("chat-with-tool-call-output", req))

    async def chat_stream(self, messages: Messages, **options: Any) -> AsyncChatStream:
        """`async for event in await client.chat_stream(...)`."""
        req = json.dumps(_request.build(messages, options))
        return AsyncChatStream(await self._call("chat-stream", req))

    async def resume(self, checkpoint: CheckpointLike) -> AsyncChatStream:
        return AsyncChatStream(await self._call("resume", _checkpoint_json(checkpoint)))

    async def count_tokens(self, messages: Messages, **options: Any) -> TokenCount:
        req = json.dumps(_request.build(messages, options))
        return TokenCount(**json.loads(await self._call("count-tokens", req)))

    async def embed(self, inputs: Union[str, Iterable[str]], **options: Any) -> Embeddings:
        req = json.dumps(_request.embed(inputs, options))
        return Embeddings.from_dict(json.loads(await self._call("embed", req)))

    async def list_models(self) -> List[ModelInfo]:
        return [ModelInfo(**m) for m in json.loads(await self._call("list-models"))]

    async def health(self) -> List[BackendHealth]:
        return [BackendHealth(**h) for h in json.loads(await self._call("health"))]
