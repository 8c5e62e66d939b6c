"""Heartbeat staleness with injected times, and readiness checks with their timeouts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bounced.ingest.consumer import DatabaseGate
from bounced.service.health import (
    EVENT_LOOP,
    LOOP_ALLOWANCE,
    Check,
    Heartbeats,
    ReadinessReport,
    liveness,
    run_checks,
    tick_forever,
)
from tests.support.clock import ManualClock

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def watched() -> Heartbeats:
    beats = Heartbeats()
    beats.register("poller:bounce:0", timedelta(seconds=60), now=T0)
    beats.register("scheduler", timedelta(seconds=30), now=T0)
    return beats


def test_fresh_components_are_healthy() -> None:
    beats = watched()
    beats.beat("poller:bounce:0", at(10))
    beats.beat("scheduler", at(10))
    report = beats.report(at(35))
    assert report.healthy
    assert report.stale == ()
    assert [c.age_seconds for c in report.components] == [25.0, 25.0]


def test_component_silent_past_its_allowance_is_stale() -> None:
    beats = watched()
    beats.beat("poller:bounce:0", at(10))
    beats.beat("scheduler", at(10))
    report = beats.report(at(41))
    assert not report.healthy
    assert report.stale == ("scheduler",)


def test_never_beaten_component_is_stale_after_allowance_from_registration() -> None:
    beats = watched()
    beats.beat("scheduler", at(50))
    assert beats.report(at(60)).healthy
    report = beats.report(at(61))
    assert report.stale == ("poller:bounce:0",)
    poller = report.components[0]
    assert not poller.beaten
    assert poller.age_seconds == 61


def test_exactly_at_the_allowance_is_not_yet_stale() -> None:
    assert watched().report(at(30)).healthy


def test_older_beat_never_rewinds() -> None:
    beats = watched()
    beats.beat("scheduler", at(20))
    beats.beat("scheduler", at(5))
    report = beats.report(at(45))
    assert report.healthy
    assert report.components[1].age_seconds == 25


def test_unregistered_component_no_longer_counts() -> None:
    beats = watched()
    beats.unregister("poller:bounce:0")
    beats.beat("scheduler", at(100))
    assert beats.report(at(100)).healthy


def test_beating_an_unknown_component_is_an_error() -> None:
    with pytest.raises(KeyError):
        Heartbeats().beat("nobody", T0)


def test_non_positive_allowance_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        Heartbeats().register("x", timedelta(0), T0)


def test_empty_registry_is_healthy() -> None:
    assert Heartbeats().report(T0).healthy


def test_health_json_names_stale_parts() -> None:
    body = watched().report(at(31)).to_json()
    assert body["status"] == "stale"
    assert body["stale"] == ["scheduler"]
    assert body["components"]["poller:bounce:0"]["stale"] is False


def test_readiness_requires_every_check() -> None:
    assert ReadinessReport((Check("postgres", ok=True), Check("schema", ok=True))).ready
    report = ReadinessReport((Check("postgres", ok=True), Check("queue:bounce", ok=False, detail="gone")))
    assert not report.ready
    assert report.to_json()["reasons"] == ["queue:bounce: gone"]


async def test_run_checks_reports_failures_and_timeouts() -> None:
    hang = asyncio.Event()

    async def ok() -> None:
        return None

    async def broken() -> None:
        raise ConnectionRefusedError("connection refused")

    async def hung() -> None:
        await hang.wait()

    probes = {"schema": ok, "postgres": broken, "queue:bounce": hung}
    report = await run_checks(probes, per_check_seconds=0.05)
    by_name = {c.name: c for c in report.checks}
    assert by_name["schema"].ok
    assert by_name["postgres"].detail == "ConnectionRefusedError: connection refused"
    assert by_name["queue:bounce"].detail == "timed out after 0.05s"
    assert not report.ready


async def _run_until(clock: ManualClock, until: datetime) -> None:
    """Let the tasks run (each sleep of theirs moves the manual clock) until `until`."""
    while clock.now() < until:  # noqa: ASYNC110 -- the clock moves only when the tasks run
        await asyncio.sleep(0)


async def test_a_postgres_outage_longer_than_any_allowance_is_alive_and_unready() -> None:
    """Pollers held back by a closed database gate for ten minutes: /healthz's report stays healthy
    (waiting on PostgreSQL is alive), readiness fails on the database check."""
    clock = ManualClock(T0)
    beats = liveness(T0)
    ticker = asyncio.create_task(tick_forever(beats, clock))

    async def ping() -> None:
        raise ConnectionRefusedError("connection refused")

    async with DatabaseGate(ping, clock) as gate:
        gate.close()
        pollers = [asyncio.create_task(gate.wait_open(), name=f"poller:bounce:{i}") for i in range(2)]
        for task in pollers:
            beats.register_task(task.get_name(), task, T0)
        try:
            await _run_until(clock, at(600))
            report = beats.report(clock.now())
            readiness = await run_checks({"database": ping}, per_check_seconds=1.0)
        finally:
            ticker.cancel()
            for task in pollers:
                task.cancel()
    assert report.healthy, report.to_json()
    assert [c.task for c in report.components if c.name.startswith("poller")] == ["running", "running"]
    assert not readiness.ready
    assert readiness.to_json()["reasons"] == ["database: ConnectionRefusedError: connection refused"]


async def test_an_event_loop_that_stops_turning_is_not_alive() -> None:
    clock = ManualClock(T0)
    beats = liveness(T0)
    ticker = asyncio.create_task(tick_forever(beats, clock))
    await _run_until(clock, at(5))
    ticker.cancel()
    # Its last beat was at 4 or 5 s.
    assert beats.report(at(4 + LOOP_ALLOWANCE.total_seconds())).healthy
    report = beats.report(at(6 + LOOP_ALLOWANCE.total_seconds()))
    assert report.stale == (EVENT_LOOP,)


async def test_a_task_that_failed_is_dead_and_one_that_stopped_is_not() -> None:
    async def fail() -> None:
        raise RuntimeError("a bug")

    async def finish() -> None:
        return None

    beats = liveness(T0)
    failed, finished = asyncio.create_task(fail()), asyncio.create_task(finish())
    beats.register_task("scheduler", failed, T0)
    beats.register_task("poller:bounce:0", finished, T0)
    await asyncio.wait([failed, finished])
    beats.beat(EVENT_LOOP, at(1))
    report = beats.report(at(1))
    assert report.stale == ("scheduler",)
    assert report.to_json()["components"]["scheduler"]["task"] == "failed"
    assert report.to_json()["components"]["poller:bounce:0"]["task"] == "stopped"
