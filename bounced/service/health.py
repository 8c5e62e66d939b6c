"""Liveness (`/healthz`) and readiness (`/readyz`): one rule each.

Liveness: the event loop turns and every task of the daemon is alive. A ticker beats `event_loop`
every second; it is stale once silent past its allowance. Tasks (pollers, the scheduler, the
gauges...) are registered with their asyncio task: one is dead only when it ended with an exception.
Waiting is alive: a poller held back while PostgreSQL is away, a commit waiting on a lock, the
start-up waiting for PostgreSQL all answer 200. Tasks may still beat, which the report shows (the
age of their last sign of activity) without judging it. The report is pure: time is passed in.

Readiness: a `ReadinessReport` of named checks (PostgreSQL and the schema, each queue), built by
`run_checks` from async probes, each bounded by a timeout so one hung dependency fails its check
instead of hanging the report.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bounced.core.clock import Clock

EVENT_LOOP = "event_loop"
"""The heartbeat the loop ticker beats (`tick_forever`)."""
LOOP_TICK_SECONDS = 1.0
LOOP_ALLOWANCE = timedelta(seconds=15)


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    """One component's liveness at report time."""

    name: str
    age_seconds: float  # since its last beat (or since registration when it never beat)
    max_staleness_seconds: float | None  # None: a task, judged by whether it runs, not by age
    beaten: bool  # whether it ever beat
    stale: bool
    task: str | None = None  # a task's state: running, stopped (on purpose) or failed


@dataclass(frozen=True, slots=True)
class HealthReport:
    """Liveness of every registered component; healthy when none is stale."""

    components: tuple[ComponentHealth, ...]

    @property
    def healthy(self) -> bool:
        """True when no component is stale (an empty registry is healthy: the process answers)."""
        return not self.stale

    @property
    def stale(self) -> tuple[str, ...]:
        """Names of the stale components."""
        return tuple(c.name for c in self.components if c.stale)

    def to_json(self) -> dict[str, Any]:
        """The `/healthz` body."""
        return {
            "status": "ok" if self.healthy else "stale",
            "stale": list(self.stale),
            "components": {
                c.name: {
                    "age_seconds": round(c.age_seconds, 3),
                    "max_staleness_seconds": c.max_staleness_seconds,
                    "beaten": c.beaten,
                    "stale": c.stale,
                    **({"task": c.task} if c.task is not None else {}),
                }
                for c in self.components
            },
        }


@dataclass(slots=True)
class _Entry:
    max_staleness: timedelta | None
    last: datetime
    beaten: bool
    task: asyncio.Task[Any] | None = None


class Heartbeats:
    """Components' last signs of life; pure (every method takes `now`)."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def register(self, name: str, max_staleness: timedelta, now: datetime) -> None:
        """Watch `name`: stale when it does not beat within `max_staleness` (first beat counts from now)."""
        if max_staleness <= timedelta(0):
            raise ValueError(f"max_staleness must be positive, got {max_staleness}")
        self._entries[name] = _Entry(max_staleness=max_staleness, last=now, beaten=False)

    def register_task(self, name: str, task: asyncio.Task[Any], now: datetime) -> None:
        """Watch `task` under `name`: dead only once it ended with an exception, however long it
        waits. It may beat too (shown as activity, never judged)."""
        self._entries[name] = _Entry(max_staleness=None, last=now, beaten=False, task=task)

    def unregister(self, name: str) -> None:
        """Stop watching `name` (a component that stopped on purpose); unknown names are ignored."""
        self._entries.pop(name, None)

    def beat(self, name: str, now: datetime) -> None:
        """`name` is alive at `now`. Beating an unregistered name is a bug: KeyError."""
        entry = self._entries[name]
        entry.last = max(entry.last, now)  # a late-arriving older beat never rewinds
        entry.beaten = True

    def report(self, now: datetime) -> HealthReport:
        """Every component's age and staleness at `now`, sorted by name."""
        return HealthReport(
            tuple(self._component(name, entry, now) for name, entry in sorted(self._entries.items()))
        )

    @staticmethod
    def _component(name: str, entry: _Entry, now: datetime) -> ComponentHealth:
        age = now - entry.last
        state = _task_state(entry.task) if entry.task is not None else None
        if entry.max_staleness is None:
            stale, allowance = state == "failed", None
        else:
            stale, allowance = age > entry.max_staleness, entry.max_staleness.total_seconds()
        return ComponentHealth(
            name=name,
            age_seconds=max(age.total_seconds(), 0.0),
            max_staleness_seconds=allowance,
            beaten=entry.beaten,
            stale=stale,
            task=state,
        )


def _task_state(task: asyncio.Task[Any]) -> str:
    if not task.done():
        return "running"
    if task.cancelled() or task.exception() is None:
        return "stopped"
    return "failed"


async def tick_forever(heartbeats: Heartbeats, clock: Clock, interval: float = LOOP_TICK_SECONDS) -> None:
    """Beat `event_loop` every `interval` seconds, for as long as the loop turns (run as a task)."""
    while True:
        heartbeats.beat(EVENT_LOOP, clock.now())
        await clock.sleep(interval)


def liveness(now: datetime, allowance: timedelta = LOOP_ALLOWANCE) -> Heartbeats:
    """The daemon's liveness registry: `event_loop` registered (beat it with `tick_forever`), tasks
    to be added as they start."""
    heartbeats = Heartbeats()
    heartbeats.register(EVENT_LOOP, allowance, now)
    return heartbeats


@dataclass(frozen=True, slots=True)
class Check:
    """One readiness check's outcome; `detail` says why it failed (no secrets, no addresses)."""

    name: str
    ok: bool
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class ReadinessReport:
    """Outcome of every readiness check; ready only when all passed."""

    checks: tuple[Check, ...]

    @property
    def ready(self) -> bool:
        """True when every check passed."""
        return all(c.ok for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        """The `/readyz` body."""
        return {
            "status": "ready" if self.ready else "unready",
            "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in self.checks},
            "reasons": [f"{c.name}: {c.detail or 'failed'}" for c in self.checks if not c.ok],
        }


Probe = Callable[[], Awaitable[None]]


async def run_checks(probes: Mapping[str, Probe], per_check_seconds: float) -> ReadinessReport:
    """Run every probe concurrently, each within `per_check_seconds`; a probe passes when it returns and
    fails with its exception's type and message (or "timed out") otherwise."""
    names = list(probes)
    outcomes = await asyncio.gather(*(_run_one(name, probes[name], per_check_seconds) for name in names))
    return ReadinessReport(tuple(outcomes))


async def _run_one(name: str, probe: Probe, limit: float) -> Check:
    try:
        async with asyncio.timeout(limit):
            await probe()
    except TimeoutError:
        return Check(name, ok=False, detail=f"timed out after {limit:g}s")
    except Exception as exc:  # any failure of a probe means "not ready", with its reason
        return Check(name, ok=False, detail=f"{type(exc).__name__}: {exc}")
    return Check(name, ok=True)
