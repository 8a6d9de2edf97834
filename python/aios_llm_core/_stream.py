"""Streamed chats: `ChatStream` (a blocking iterator) and `AsyncChatStream` (`async for`).
Each yields `ContentDelta`, `ReasoningDelta`, `ToolCallDelta` and `LogprobsDelta` events and
then `Done` with the whole response (kept in `.response`). `close()` — or leaving a `with`
block, or the stream being garbage-collected — cancels the request; `suspend()` stops it and
returns a `Checkpoint` that `Client.resume` continues.
"""

from __future__ import annotations

import json
from typing import Any, AsyncIterator, Iterator, Optional

from . import _native
from ._aio import run
from ._types import ChatResponse, Checkpoint, Done, StreamEvent, event_from_dict
from .errors import error_from_record


class _StreamBase:
    def __init__(self, native: "_native.Stream") -> None:
        self._native = native
        self.response: Optional[ChatResponse] = None

    def _event(self, text: Optional[str]) -> Optional[StreamEvent]:
        if text is None:
            return None
        event = event_from_dict(json.loads(text))
        if isinstance(event, Done):
            self.response = event.response
        return event

    @property
    def closed(self) -> bool:
        """Whether the stream has ended, failed, been suspended or closed."""
        return bool(self._native.closed())

    def close(self) -> None:
        """Cancels the request (nothing more is generated)."""
        self._native.close()


class ChatStream(_StreamBase):
    """A streamed chat: `for event in stream`."""

    def __iter__(self) -> Iterator[StreamEvent]:
        return self

    def __next__(self) -> StreamEvent:
        try:
            event = self._event(self._native.next())
        except _native.NativeError as e:
            raise error_from_record(e.args[0]) from None
        if event is None:
            raise StopIteration
        return event

    def text(self) -> str:
        """Reads the stream to its end and returns the whole answer text."""
        for _ in self:
            pass
        return (self.response.content or "") if self.response else ""

    def suspend(self) -> Checkpoint:
        try:
            return Checkpoint(json.loads(self._native.suspend()))
        except _native.NativeError as e:
            raise error_from_record(e.args[0]) from None

    def __enter__(self) -> "ChatStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncChatStream(_StreamBase):
    """A streamed chat for asyncio: `async for event in stream`."""

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self

    async def __anext__(self) -> StreamEvent:
        event = self._event(await run(self._native.start_next))
        if event is None:
            raise StopAsyncIteration
        return event

    async def text(self) -> str:
        async for _ in self:
            pass
        return (self.response.content or "") if self.response else ""

    async def suspend(self) -> Checkpoint:
        return Checkpoint(json.loads(await run(self._native.start_suspend)))

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self) -> "AsyncChatStream":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()
