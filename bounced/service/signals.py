"""Signals that arrive while `bounced run` is still starting (importing, reading settings).

The daemon installs its own handlers once its event loop runs; until then SIGTERM would kill the
process mid-start with no clean exit. SIGHUP stops the daemon like SIGTERM (drain, exit 0): its
default action would kill it with no drain, and there is nothing to reload (settings are read once).
`hold()`, called first thing for `run`, records such signals instead, and the daemon acts on them
as soon as its handlers are in place (`held()`).
"""

from __future__ import annotations

import signal
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
"""The signals that stop the daemon cleanly."""

_held: list[int] = []


def _remember(signum: int, _frame: FrameType | None) -> None:
    _held.append(signum)


def hold() -> None:
    """Record the stop signals from now on, until the daemon takes them over."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _remember)


def held() -> list[int]:
    """The signals recorded so far (and forget them)."""
    taken = list(_held)
    _held.clear()
    return taken
