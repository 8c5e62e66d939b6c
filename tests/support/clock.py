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
