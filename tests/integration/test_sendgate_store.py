"""The store-backed send-gate: the same answer over HTTP, from `bounced status`, in one query."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp.test_utils import TestClient, TestServer

from bounced.core.model import Status
from bounced.core.sendgate import StoreSendGate
from bounced.db.store import Store
from bounced.service.health import Check, Heartbeats, ReadinessReport
from bounced.service.http import build_app
from bounced.service.metrics import Metrics
from tests.support.outcomes import delivery, hard_bounce, soft_bounce

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


class _Clock:
    def now(self) -> datetime:
        return T0

    async def sleep(self, seconds: float) -> None:
        return None


async def _ready() -> ReadinessReport:
    return ReadinessReport((Check("database", ok=True),))


async def _seed(store: Store) -> None:
    await store.commit(
        [
            hard_bounce(["gone@example.org"], T0),
            soft_bounce(["full@example.org"], T0, subtype="MailboxFull"),
            delivery(["ok@example.org"], T0),
        ],
        T0,
    )


async def test_lookup_answers_known_addresses_and_leaves_unknown_ones_out(store: Store) -> None:
    await _seed(store)
    answers = await StoreSendGate(store).lookup(
        ["gone@example.org", "full@example.org", "ok@example.org", "new@example.org"]
    )
    assert set(answers) == {"gone@example.org", "full@example.org", "ok@example.org"}
    gone, deferred, ok = (answers[a] for a in ("gone@example.org", "full@example.org", "ok@example.org"))
    assert gone is not None
    assert (gone.status, gone.reason, gone.sendable) == (Status.SUPPRESSED, "user-unknown", False)
    assert deferred is not None
    assert deferred.status is Status.DEFERRED
    assert deferred.retry_at is not None
    assert deferred.retry_at > T0 + timedelta(hours=12)
    assert ok is not None
    assert ok.sendable


async def test_the_http_endpoint_answers_from_the_store(store: Store) -> None:
    await _seed(store)
    app = build_app(
        heartbeats=Heartbeats(),
        clock=_Clock(),
        readiness=_ready,
        metrics=Metrics(),
        sendgate=StoreSendGate(store),
    )
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        one = await (await client.get("/v1/recipients/Gone@Example.org")).json()
        assert one == {
            "address": "gone@example.org",
            "sendable": False,
            "status": "suppressed",
            "reason": "user-unknown",
            "retry_at": None,
        }
        reply = await client.post(
            "/v1/recipients/check", json={"addresses": ["full@example.org", "new@example.org", "bad"]}
        )
        results = (await reply.json())["results"]
        assert [r.get("sendable") for r in results] == [False, True, None]
        assert results[0]["retry_at"] is not None
        assert results[2] == {"address": "bad", "error": "invalid_address"}
    finally:
        await client.close()
