"""Heartbeat staleness with injected times, and readiness checks with their timeouts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bounced.health import Check, Heartbeats, ReadinessReport, run_checks

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
