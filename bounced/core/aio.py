"""Small asyncio helpers for code that must stop promptly when asked."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from contextlib import suppress
from typing import Any, TypeVar

from bounced.core.clock import Clock

_T = TypeVar("_T")


async def unless_stopped(work: Awaitable[_T], stop: asyncio.Event) -> _T | None:
    """Await `work`, or cancel it and return None as soon as `stop` is set."""
    task: asyncio.Future[_T] = asyncio.ensure_future(work)
    stopper: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task
    return None


async def sleep_unless_stopped(clock: Clock, seconds: float, stop: asyncio.Event) -> None:
    """Sleep `seconds` on `clock`, returning early when `stop` is set."""
    await unless_stopped(clock.sleep(seconds), stop)
