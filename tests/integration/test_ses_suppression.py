"""The SES suppression-list outbox and `bounced ses import`, against a real PostgreSQL and the fake
SESv2 server (tests/support/sesv2_server.py) driven through real aiobotocore."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import asyncpg
import pytest
from botocore.exceptions import BotoCoreError, ClientError

from bounced.core import seslist
from bounced.core.seslist import SesCall
from bounced.db.queries import sql
from bounced.db.store import SES_SENDER_LOCK_KEY, Store
from bounced.ingest.sesv2 import SuppressionList, suppression_list
from bounced.service.seslist import SuppressionSender
from tests.integration.admin_support import Cli
from tests.support.aws import FAKE_CREDENTIALS, REGION
from tests.support.clock import ManualClock
from tests.support.sesv2_server import FakeSes, running_fake_ses

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


class Recorder:
    """The sender's observer: calls by (operation, result), the pending gauge, failures."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.pending: int | None = None
        self.failures: list[str] = []

    def ses_suppression_call(self, operation: str, result: str) -> None:
        self.calls[(operation, result)] += 1

    def set_ses_suppression_pending(self, n: int) -> None:
        self.pending = n

    def failed(self, component: str) -> None:
        self.failures.append(component)


@pytest.fixture
def fake_ses(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSes]:
    """A fake SES on 127.0.0.1, and the AWS SDK's variables pointing botocore at it."""
    with running_fake_ses() as ses:
        for name, value in FAKE_CREDENTIALS.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
        monkeypatch.setenv("AWS_ENDPOINT_URL_SESV2", ses.endpoint)
        yield ses


@pytest.fixture
async def ses_list(fake_ses: FakeSes) -> AsyncIterator[SuppressionList]:
    async with suppression_list(REGION) as opened:
        yield opened


def sender(store: Store, ses: SuppressionList, recorder: Recorder) -> SuppressionSender:
    return SuppressionSender(store=store, ses=ses, clock=ManualClock(T0), observer=recorder, interval=1.0)


async def queue(store_dsn: str, *calls: SesCall) -> None:
    """Queue calls as the write path does (the same statement)."""
    conn = await asyncpg.connect(store_dsn)
    try:
        columns = [
            list(c)
            for c in zip(*((c.address, c.operation, c.reason, c.event_id) for c in calls), strict=True)
        ]
        await conn.execute(sql("insert_ses_calls"), *columns, T0)
    finally:
        await conn.close()


def put(address: str, reason: str = "BOUNCE") -> SesCall:
    return SesCall(address, seslist.PUT, reason)


def delete(address: str) -> SesCall:
    return SesCall(address, seslist.DELETE)


def made(fake: FakeSes) -> list[tuple[str, str | None, int]]:
    return [(c.operation, c.address, c.status) for c in fake.calls]


async def test_calls_are_made_in_order_and_then_forgotten(
    store: Store, store_dsn: str, ses_list: SuppressionList, fake_ses: FakeSes
) -> None:
    await queue(store_dsn, put("a@example.com"), put("b@example.com", "COMPLAINT"), delete("a@example.com"))
    recorder = Recorder()
    assert await sender(store, ses_list, recorder).send_pending() == 3
    assert made(fake_ses) == [
        ("PutSuppressedDestination", "a@example.com", 200),
        ("PutSuppressedDestination", "b@example.com", 200),
        ("DeleteSuppressedDestination", "a@example.com", 200),
    ]
    assert {a: r for a, (r, _) in fake_ses.listed.items()} == {"b@example.com": "COMPLAINT"}
    assert await store.ses_calls_pending() == 0
    assert recorder.pending == 0
    assert recorder.calls == {("put", "ok"): 2, ("delete", "ok"): 1}


async def test_a_delete_of_an_address_ses_does_not_list_is_done(
    store: Store, store_dsn: str, ses_list: SuppressionList, fake_ses: FakeSes
) -> None:
    await queue(store_dsn, delete("never@example.com"))
    recorder = Recorder()
    assert await sender(store, ses_list, recorder).send_pending() == 1
    assert recorder.calls == {("delete", "not_found"): 1}
    assert await store.ses_calls_pending() == 0


async def test_a_throttled_call_waits_and_holds_back_the_calls_behind_it(
    store: Store, store_dsn: str, ses_list: SuppressionList, fake_ses: FakeSes
) -> None:
    await queue(store_dsn, put("a@example.com"), delete("a@example.com"))
    fake_ses.throttle(2)
    recorder = Recorder()
    send = sender(store, ses_list, recorder)
    for _ in range(2):
        with pytest.raises(ClientError, match="TooManyRequestsException"):
            await send.send_pending()
    # Neither the put nor the delete behind it was made: the order holds.
    assert [c.status for c in fake_ses.calls] == [429, 429]
    assert recorder.pending == 2
    assert await send.send_pending() == 2
    assert fake_ses.listed == {}
    assert made(fake_ses)[2:] == [
        ("PutSuppressedDestination", "a@example.com", 200),
        ("DeleteSuppressedDestination", "a@example.com", 200),
    ]
    assert recorder.calls == {("put", "throttled"): 2, ("put", "ok"): 1, ("delete", "ok"): 1}


async def test_a_server_error_keeps_the_call_and_what_was_done_before_it_is_forgotten(
    store: Store, store_dsn: str, ses_list: SuppressionList, fake_ses: FakeSes
) -> None:
    await queue(store_dsn, put("a@example.com"), put("b@example.com"))
    recorder = Recorder()
    send = sender(store, ses_list, recorder)
    await send.send_pending()  # a is listed
    await queue(store_dsn, put("c@example.com"))
    fake_ses.fail(1)
    with pytest.raises(ClientError):
        await send.send_pending()
    assert await store.ses_calls_pending() == 1
    assert await send.send_pending() == 1
    assert set(fake_ses.listed) == {"a@example.com", "b@example.com", "c@example.com"}
    assert recorder.calls[("put", "error")] == 1


async def test_an_outage_that_ends(
    store: Store, store_dsn: str, ses_list: SuppressionList, fake_ses: FakeSes
) -> None:
    await queue(store_dsn, put("a@example.com"))
    recorder = Recorder()
    send = sender(store, ses_list, recorder)
    fake_ses.down()
    with pytest.raises(BotoCoreError):
        await send.send_pending()
    assert await store.ses_calls_pending() == 1
    fake_ses.up()
    assert await send.send_pending() == 1
    assert set(fake_ses.listed) == {"a@example.com"}
    assert recorder.calls == {("put", "error"): 1, ("put", "ok"): 1}


async def test_the_supervised_sender_backs_off_while_throttled_and_catches_up(
    store: Store, store_dsn: str, ses_list: SuppressionList, fake_ses: FakeSes
) -> None:
    await queue(store_dsn, put("a@example.com"))
    fake_ses.throttle(3)
    recorder = Recorder()
    clock = ManualClock(T0)
    send = SuppressionSender(store=store, ses=ses_list, clock=clock, observer=recorder, interval=1.0)
    stop = asyncio.Event()
    task = asyncio.create_task(send.run(stop))
    for _ in range(3000):  # the fake answers on its own thread: look now and then
        if "a@example.com" in fake_ses.listed:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await task
    assert recorder.failures == ["ses_suppression"] * 3
    # 1 s, then 2 s, then 4 s of backoff on the injected clock before the call went through.
    assert (clock.now() - T0).total_seconds() >= 7


async def test_a_call_ses_refuses_for_the_address_is_dropped_and_the_rest_go_on(
    store: Store, store_dsn: str, ses_list: SuppressionList, fake_ses: FakeSes
) -> None:
    fake_ses.refused.add("bad@example.com")
    await queue(store_dsn, put("bad@example.com"), put("good@example.com"))
    recorder = Recorder()
    assert await sender(store, ses_list, recorder).send_pending() == 2
    assert set(fake_ses.listed) == {"good@example.com"}
    assert recorder.calls == {("put", "rejected"): 1, ("put", "ok"): 1}


async def test_one_instance_sends_at_a_time(
    store: Store, store_dsn: str, ses_list: SuppressionList, fake_ses: FakeSes
) -> None:
    await queue(store_dsn, put("a@example.com"))
    other = await asyncpg.connect(store_dsn)
    try:
        async with other.transaction():
            assert await other.fetchval(sql("lock_ses_sender"), SES_SENDER_LOCK_KEY)
            assert await sender(store, ses_list, Recorder()).send_pending() == 0
            assert fake_ses.calls == []
    finally:
        await other.close()
    assert await sender(store, ses_list, Recorder()).send_pending() == 1


# -- bounced ses import -----------------------------------------------------------------------------


async def _listed_entries(ses: SuppressionList, page_size: int) -> list[str]:
    return [entry.address async for entry in ses.entries(page_size)]


async def test_entries_read_every_page(ses_list: SuppressionList, fake_ses: FakeSes) -> None:
    for n in range(5):
        fake_ses.put(f"user{n}@example.com", "BOUNCE")
    assert await _listed_entries(ses_list, 2) == [f"user{n}@example.com" for n in range(5)]
    assert [c.operation for c in fake_ses.calls] == ["ListSuppressedDestinations"] * 3


@pytest.fixture
def cli(
    empty_database: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fake_ses: FakeSes,
) -> Cli:
    for name in ("BOUNCED_TEST_DSN", "BOUNCED_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BOUNCED_DATABASE_URL", empty_database)
    runner = Cli(empty_database, capsys)

    async def nothing(store: Store) -> None:
        return None

    runner.with_store(nothing)  # migrates
    return runner


def test_import_records_every_page_once_and_pushes_nothing_back(cli: Cli, fake_ses: FakeSes) -> None:
    fake_ses.max_page_size = 2
    for n in range(4):
        fake_ses.put(f"bounced{n}@example.com", "BOUNCE")
    fake_ses.put("angry@example.com", "COMPLAINT")
    code, out, _ = cli("ses", "import", "--json", "--actor", "ops")
    assert code == 0
    assert json.loads(out) == {"read": 5, "suppressed": 5, "already_suppressed": 0, "skipped": 0}
    assert [c.operation for c in fake_ses.calls] == ["ListSuppressedDestinations"] * 3
    rows = cli.fetch("SELECT address, status, reason, kind FROM recipients ORDER BY address")
    assert [tuple(r) for r in rows] == [
        ("angry@example.com", "suppressed", "complaint", "ses_suppression_list"),
        *[(f"bounced{n}@example.com", "suppressed", "bounce", "ses_suppression_list") for n in range(4)],
    ]
    events = cli.fetch("SELECT kind, action, actor FROM events")
    assert {tuple(e) for e in events} == {("ses_suppression_list", "suppress", "ops")}
    assert len(events) == 5
    assert cli.fetch("SELECT count(*) FROM ses_suppression_outbox")[0][0] == 0

    code, out, _ = cli("ses", "import", "--json")
    assert code == 0
    assert json.loads(out) == {"read": 5, "suppressed": 0, "already_suppressed": 5, "skipped": 0}
    assert cli.fetch("SELECT count(*) FROM events")[0][0] == 5


def test_import_keeps_an_address_already_suppressed_as_it_is(cli: Cli, fake_ses: FakeSes) -> None:
    assert cli("suppress", "known@example.com", "--reason", "asked by phone", "--actor", "ops")[0] == 0
    fake_ses.put("known@example.com", "COMPLAINT")
    code, out, _ = cli("ses", "import")
    assert code == 0
    assert "0 newly suppressed, 1 already suppressed" in out
    (row,) = cli.fetch("SELECT reason, kind FROM recipients")
    assert tuple(row) == ("manual", "manual")


def test_import_says_when_ses_cannot_be_read(cli: Cli, fake_ses: FakeSes) -> None:
    fake_ses.throttle(1)
    code, _, err = cli("ses", "import")
    assert code == 1
    assert "TooManyRequestsException" in err
