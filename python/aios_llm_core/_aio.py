"""The asyncio bridge: a call runs on the extension's own tokio runtime, and its result comes
back through a callback from a runtime thread, which hands it to the event loop with
`call_soon_threadsafe`. The loop never blocks; cancelling the awaiting task drops the call
(a stream being started, or being read, is cancelled with it).
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from .errors import error_from_record

Start = Callable[[Callable[[bool, Any], None]], Any]


def _settle(fut: "asyncio.Future[Any]", ok: bool, value: Any) -> None:
    if fut.done():
        return
    if ok:
        fut.set_result(value)
    elif isinstance(value, BaseException):
        fut.set_exception(value)
    else:
        fut.set_exception(error_from_record(value))


async def run(start: Start) -> Any:
    """Awaits the call `start(callback)` begins (it returns a task with `cancel()`)."""
    loop = asyncio.get_running_loop()
    fut: "asyncio.Future[Any]" = loop.create_future()

    def callback(ok: bool, value: Any) -> None:  # on a runtime thread
        try:
            loop.call_soon_threadsafe(_settle, fut, ok, value)
        except RuntimeError:  # the loop was closed meanwhile
            pass

    task = start(callback)
    try:
        return await fut
    except asyncio.CancelledError:
        task.cancel()
        raise
