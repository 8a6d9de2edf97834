"""Streamed chats: `ChatStream` (a blocking iterator) and `AsyncChatStream` (`async for`).
Each yields `ContentDelta`, `ReasoningDelta`, `ToolCallDelta` and `LogprobsDelta` events and
then `Done` with the whole response (kept in `.response`). `close()` — or leaving a `with`
block, or the stream being garbage-collected — cancels the request; `suspend()` stops it and
returns a `Checkpoint` that `Client.resume` continues.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any, AsyncIterator, Deque, Iterator, Optional

from . import _native
from ._aio import run
from ._types import ChatResponse, Checkpoint, ContentDelta, Done, ReasoningDelta, StreamEvent, event_from_dict
from .errors import error_from_record


class _StreamBase:
    def __init__(self, native: "_native.Stream") -> None:
        self._native = native
        self._ready: Deque[StreamEvent] = deque()
        self.response: Optional[ChatResponse] = None

    def _take(self, batch: Optional[str]) -> Optional[StreamEvent]:
        """The next event: from the batch the extension handed over (a JSON array), else None."""
        if batch is not None:
            self._ready.extend(event_from_dict(d) for d in json.loads(batch))
        if not self._ready:
            return None
        event = self._ready.popleft()
        if isinstance(event, Done):
            self.response = event.response
        return event

    def _checkpoint(self, text: str) -> Checkpoint:
        """The checkpoint less the text of events received but not yet iterated, so that
        resuming generates them again: nothing the caller saw is repeated, nothing lost."""
        data = json.loads(text)
        generated = data["generated"]
        for field, cls in (("content", ContentDelta), ("reasoning", ReasoningDelta)):
            unseen = "".join(e.text for e in self._ready if isinstance(e, cls))
            if unseen and generated[field].endswith(unseen):
                generated[field] = generated[field][: -len(unseen)]
        self._ready.clear()
        return Checkpoint(data)

    @property
    def closed(self) -> bool:
        """Whether the stream has ended, failed, been suspended or closed."""
        return bool(self._native.closed())

    def close(self) -> None:
        """Cancels the request (nothing more is generated)."""
        self._ready.clear()
        self._native.close()


class ChatStream(_StreamBase):
    """A streamed chat: `for event in stream`."""

    def __iter__(self) -> Iterator[StreamEvent]:
        return self

    def __next__(self) -> StreamEvent:
        event = self._take(None)
        if event is None:
            try:
                event = self._take(self._native.next())
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
            return self._checkpoint(self._native.suspend())
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
        event = self._take(None)
        if event is None:
            event = self._take(await run(self._native.start_next))
        if event is None:
            raise StopAsyncIteration
        return event

    async def text(self) -> str:
        async for _ in self:
            pass
        return (self.response.content or "") if self.response else ""

    async def suspend(self) -> Checkpoint:
        return self._checkpoint(await run(self._native.start_suspend))

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self) -> "AsyncChatStream":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()
