"""Small asyncio helpers for code that must stop promptly when asked."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine
from contextlib import suppress
from types import TracebackType
from typing import Any, Self, TypeVar

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


class TaskScope:
    """The TaskGroup in which an object runs its background tasks, open while its owner holds it in
    `async with`. Leaving cancels what still runs and waits for it, so no task outlives its owner;
    a task that fails with an error cancels the owner's body and the error reaches the owner (a bug
    stops the daemon loudly instead of dying unseen)."""

    def __init__(self, owner: str) -> None:
        self._owner = owner
        self._group: asyncio.TaskGroup | None = None
        self._running: set[asyncio.Task[Any]] = set()

    async def __aenter__(self) -> Self:
        group = asyncio.TaskGroup()
        await group.__aenter__()
        self._group = group
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        group, self._group = self._group, None
        if group is None:
            return
        for task in list(self._running):
            task.cancel()
        await group.__aexit__(kind, exc, tb)

    def start(self, work: Coroutine[Any, Any, _T], name: str) -> asyncio.Task[_T]:
        """Run `work` as a task of this scope."""
        if self._group is None:
            work.close()
            raise RuntimeError(f"{self._owner} is not running: enter it with `async with` first")
        task = self._group.create_task(work, name=name)
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return task
