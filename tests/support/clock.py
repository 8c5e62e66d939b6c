"""A clock tests move by hand: `now()` is what they set, `sleep()` advances it and yields."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta


class ManualClock:
    """Implements bounced.core.clock.Clock without real waiting."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta

    async def sleep(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)
        await asyncio.sleep(0)


class SteppedClock:
    """Implements bounced.core.clock.Clock: sleeps end only when the test moves time past them
    (`advance`), so a long poll or a backoff waits exactly as long as the test says."""

    def __init__(self, start: datetime) -> None:
        self.current = start
        self._sleepers: list[tuple[datetime, asyncio.Future[None]]] = []

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wake = asyncio.get_running_loop().create_future()
        entry = (self.current + timedelta(seconds=seconds), wake)
        self._sleepers.append(entry)
        try:
            await wake
        finally:
            self._sleepers.remove(entry)

    async def advance(self, seconds: float) -> None:
        """Move time on, wake every sleeper due by then, and let them run."""
        self.current += timedelta(seconds=seconds)
        for due, wake in list(self._sleepers):
            if due <= self.current and not wake.done():
                wake.set_result(None)
        await settle()


async def settle(rounds: int = 20) -> None:
    """Let every task that can run, run (a few turns of the event loop, no real time)."""
    for _ in range(rounds):
        await asyncio.sleep(0)
