"""The SES suppression-list outbox and `bounced ses import`, against a real PostgreSQL and the fake
SESv2 server (tests/support/sesv2_server.py) driven through real aiobotocore."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial

import asyncpg
import pytest
from botocore.exceptions import BotoCoreError, ClientError

from bounced.core import manual
from bounced.core.model import Action, Kind
from bounced.core.policy import DEFAULT_POLICY
from bounced.core.seslist import SesCall
from bounced.db.queries import sql
from bounced.db.store import SES_SENDER_LOCK_KEY, Store
from bounced.ingest.sesv2 import SuppressionList, suppression_list
from bounced.service.seslist import SuppressionSender
from tests.integration.admin_support import Cli
from tests.support.aws import FAKE_CREDENTIALS, REGION
from tests.support.clock import ManualClock
from tests.support.outcomes import applied, hard_bounce, migrated_store, notification
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


@pytest.fixture
async def pushing(store_dsn: str) -> AsyncIterator[Store]:
    """A Store with `BOUNCED_SES_SUPPRESSION=push`: its writes queue calls to SES's list."""
    async with migrated_store(store_dsn, DEFAULT_POLICY, ses_push=True) as opened:
        yield opened


def sender(store: Store, ses: SuppressionList, recorder: Recorder) -> SuppressionSender:
    return SuppressionSender(store=store, ses=ses, clock=ManualClock(T0), observer=recorder, interval=1.0)


class Changes:
    """State changes written as the daemon and the CLI write them, one minute apart."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.at = T0

    def _tick(self) -> datetime:
        self.at += timedelta(minutes=1)
        return self.at

    async def bounce(self, address: str) -> None:
        at = self._tick()
        await self.store.commit([hard_bounce([address], at)], at)

    async def complain(self, address: str) -> None:
        at = self._tick()
        complaint = notification(Kind.COMPLAINT, [address], at)
        await self.store.commit([applied(complaint, Action.SUPPRESS, reason="abuse", queue="complaint")], at)

    async def lift(self, address: str) -> None:
        at = self._tick()
        lifted = partial(manual.activated, now=at)
        await self.store.override(address, lifted, action=Action.CLEAR, actor="ops", note="test", now=at)


async def outbox(dsn: str) -> list[tuple[str, str, str | None, bool]]:
    """The queued calls in order: (address, operation, reason, whether its audit row exists)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT o.address, o.operation, o.reason, e.id IS NOT NULL AS audited"
            " FROM ses_suppression_outbox AS o LEFT JOIN events AS e ON e.id = o.event_id ORDER BY o.id"
        )
    finally:
        await conn.close()
    return [(r["address"], r["operation"], r["reason"], r["audited"]) for r in rows]


def made(fake: FakeSes) -> list[tuple[str, str | None, int]]:
    return [(c.operation, c.address, c.status) for c in fake.calls]


async def _forget(calls: Sequence[SesCall]) -> list[int]:
    return [c.id for c in calls if c.id is not None]


# -- the write path queues the calls ------------------------------------------------------------


async def test_each_change_queues_its_call_with_its_audit_row(pushing: Store, store_dsn: str) -> None:
    changes = Changes(pushing)
    await changes.bounce("a@example.com")
    await changes.complain("b@example.com")
    await changes.bounce("a@example.com")  # suppressed already: no change, no call
    await changes.lift("a@example.com")
    assert await outbox(store_dsn) == [
        ("a@example.com", "put", "BOUNCE", True),
        ("b@example.com", "put", "COMPLAINT", True),
        ("a@example.com", "delete", None, True),
    ]


async def test_a_redelivered_batch_queues_nothing_again(pushing: Store, store_dsn: str) -> None:
    batch = [hard_bounce(["a@example.com"], T0)]
    await pushing.commit(batch, T0)
    await pushing.commit(batch, T0)
    assert len(await outbox(store_dsn)) == 1


async def test_without_push_nothing_is_queued(store: Store, store_dsn: str) -> None:
    changes = Changes(store)
    await changes.bounce("a@example.com")
    await changes.lift("a@example.com")
    assert await outbox(store_dsn) == []


# -- the sender ---------------------------------------------------------------------------------


async def test_calls_are_made_in_order_and_then_forgotten(
    pushing: Store, ses_list: SuppressionList, fake_ses: FakeSes
) -> None:
    changes = Changes(pushing)
    await changes.bounce("a@example.com")
    await changes.complain("b@example.com")
    await changes.lift("a@example.com")
    recorder = Recorder()
    assert await sender(pushing, ses_list, recorder).send_pending() == 3
    assert made(fake_ses) == [
        ("PutSuppressedDestination", "a@example.com", 200),
        ("PutSuppressedDestination", "b@example.com", 200),
        ("DeleteSuppressedDestination", "a@example.com", 200),
    ]
    assert {a: r for a, (r, _) in fake_ses.listed.items()} == {"b@example.com": "COMPLAINT"}
    assert await pushing.ses_calls_pending() == 0
    assert recorder.pending == 0
    assert recorder.calls == {("put", "ok"): 2, ("delete", "ok"): 1}


async def test_a_delete_of_an_address_ses_does_not_list_is_done(
    pushing: Store, ses_list: SuppressionList, fake_ses: FakeSes
) -> None:
    changes = Changes(pushing)
    await changes.bounce("never@example.com")
    assert await pushing.send_ses_calls(10, _forget) == 1  # the put, as if SES had since lost it
    await changes.lift("never@example.com")
    recorder = Recorder()
    assert await sender(pushing, ses_list, recorder).send_pending() == 1
    assert recorder.calls == {("delete", "not_found"): 1}
    assert await pushing.ses_calls_pending() == 0


async def test_a_throttled_call_waits_and_holds_back_the_calls_behind_it(
    pushing: Store, ses_list: SuppressionList, fake_ses: FakeSes
) -> None:
    changes = Changes(pushing)
    await changes.bounce("a@example.com")
    await changes.lift("a@example.com")
    fake_ses.throttle(2)
    recorder = Recorder()
    send = sender(pushing, ses_list, recorder)
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
    pushing: Store, ses_list: SuppressionList, fake_ses: FakeSes
) -> None:
    changes = Changes(pushing)
    await changes.bounce("a@example.com")
    await changes.bounce("b@example.com")
    recorder = Recorder()
    send = sender(pushing, ses_list, recorder)
    await send.send_pending()  # a and b are listed
    await changes.bounce("c@example.com")
    fake_ses.fail(1)
    with pytest.raises(ClientError):
        await send.send_pending()
    assert await pushing.ses_calls_pending() == 1
    assert await send.send_pending() == 1
    assert set(fake_ses.listed) == {"a@example.com", "b@example.com", "c@example.com"}
    assert recorder.calls[("put", "error")] == 1


async def test_an_outage_that_ends(pushing: Store, ses_list: SuppressionList, fake_ses: FakeSes) -> None:
    await Changes(pushing).bounce("a@example.com")
    recorder = Recorder()
    send = sender(pushing, ses_list, recorder)
    fake_ses.down()
    with pytest.raises(BotoCoreError):
        await send.send_pending()
    assert await pushing.ses_calls_pending() == 1
    fake_ses.up()
    assert await send.send_pending() == 1
    assert set(fake_ses.listed) == {"a@example.com"}
    assert recorder.calls == {("put", "error"): 1, ("put", "ok"): 1}


async def test_the_supervised_sender_backs_off_while_throttled_and_catches_up(
    pushing: Store, ses_list: SuppressionList, fake_ses: FakeSes
) -> None:
    await Changes(pushing).bounce("a@example.com")
    fake_ses.throttle(3)
    recorder = Recorder()
    clock = ManualClock(T0)
    send = SuppressionSender(store=pushing, ses=ses_list, clock=clock, observer=recorder, interval=1.0)
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
    pushing: Store, ses_list: SuppressionList, fake_ses: FakeSes
) -> None:
    fake_ses.refused.add("bad@example.com")
    changes = Changes(pushing)
    await changes.bounce("bad@example.com")
    await changes.bounce("good@example.com")
    recorder = Recorder()
    assert await sender(pushing, ses_list, recorder).send_pending() == 2
    assert set(fake_ses.listed) == {"good@example.com"}
    assert recorder.calls == {("put", "rejected"): 1, ("put", "ok"): 1}


async def test_one_instance_sends_at_a_time(
    pushing: Store, store_dsn: str, ses_list: SuppressionList, fake_ses: FakeSes
) -> None:
    await Changes(pushing).bounce("a@example.com")
    other = await asyncpg.connect(store_dsn)
    try:
        async with other.transaction():
            assert await other.fetchval(sql("lock_ses_sender"), SES_SENDER_LOCK_KEY)
            assert await sender(pushing, ses_list, Recorder()).send_pending() == 0
            assert fake_ses.calls == []
    finally:
        await other.close()
    assert await sender(pushing, ses_list, Recorder()).send_pending() == 1


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
    monkeypatch.setenv("BOUNCED_SES_SUPPRESSION", "push")
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
    # Only the person's suppression asked for a call.
    calls = cli.fetch("SELECT operation, reason FROM ses_suppression_outbox")
    assert [tuple(c) for c in calls] == [("put", "BOUNCE")]


def test_suppress_and_unsuppress_from_the_command_line_queue_their_calls(cli: Cli) -> None:
    assert cli("suppress", "a@example.com", "--reason", "asked", "--actor", "ops")[0] == 0
    assert cli("unsuppress", "a@example.com", "--reason", "mistake", "--actor", "ops", "--yes")[0] == 0
    calls = cli.fetch(
        "SELECT o.operation, o.reason, e.note FROM ses_suppression_outbox AS o"
        " JOIN events AS e ON e.id = o.event_id ORDER BY o.id"
    )
    assert [tuple(c) for c in calls] == [("put", "BOUNCE", "asked"), ("delete", None, "mistake")]


def test_import_says_when_ses_cannot_be_read(cli: Cli, fake_ses: FakeSes) -> None:
    fake_ses.throttle(1)
    code, _, err = cli("ses", "import")
    assert code == 1
    assert "TooManyRequestsException" in err
