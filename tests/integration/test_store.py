"""The store over a real PostgreSQL: idempotency, ordering, concurrency, the retry lifecycle."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import asyncpg
import pytest

from bounced.core import manual
from bounced.core.model import Action, Classified, Kind, Outcome, Quarantined, Recipient, Status
from bounced.core.policy import DEFAULT_POLICY, RetryPolicy
from bounced.db.store import (
    CONFLICT_PAUSE_FIRST,
    CONFLICT_PAUSE_MAX,
    RETRY_RELEASED_CHANNEL,
    Store,
    conflict_pause,
)
from tests.support.outcomes import (
    applied,
    delivery,
    hard_bounce,
    migrated_store,
    notification,
    poison,
    soft_bounce,
)

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)
A, B, C = "a@example.com", "b@example.com", "c@example.com"


@pytest.fixture
async def store(empty_database: str) -> AsyncIterator[Store]:
    async with migrated_store(empty_database, DEFAULT_POLICY, max_size=10) as s:
        yield s


async def _count(dsn: str, query: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(query))
    finally:
        await conn.close()


async def _status(store: Store, address: str) -> Status:
    view = await store.recipient(address)
    assert view is not None
    return view.state.status


async def test_the_same_batch_three_times_changes_and_counts_once(store: Store, empty_database: str) -> None:
    empty = applied(notification(Kind.SUBSCRIPTION_CONFIRMATION, [], T0), Action.IGNORE)
    batch: list[Outcome] = [
        soft_bounce([A, B], T0),
        hard_bounce([C], T0),
        delivery(["d@example.com"], T0),
        poison(),
        empty,
    ]
    first = await store.commit(batch, now=T0 + H)
    assert first.events == {
        ("bounce", "retry"): 2,
        ("bounce", "suppress"): 1,
        ("delivery", "clear"): 1,
        ("subscription_confirmation", "ignore"): 1,
    }
    assert first.retries_scheduled == {"General": 2}
    assert first.quarantined == {("bounce", "not_json"): 1}
    assert first.status_changes == {"deferred": 2, "suppressed": 1, "active": 1}
    assert len(first.sent_at) == 4
    tables = ("events", "notifications", "recipients", "retries", "quarantine")
    counts = {t: await _count(empty_database, f"SELECT count(*) FROM {t}") for t in tables}  # noqa: S608 (fixed names)
    assert counts["notifications"] == 4  # one per message read, whatever its recipients
    for later in (T0 + 2 * H, T0 + 3 * H):
        again = await store.commit(batch, now=later)
        assert again.new_events == 0
        assert again.duplicates == 5
        assert again.retries_scheduled == again.status_changes == {}
        assert again.quarantined == {}
        assert again.sent_at == ()
        assert {t: await _count(empty_database, f"SELECT count(*) FROM {t}") for t in tables} == counts  # noqa: S608
    view = await store.recipient(A)
    assert view is not None
    assert view.state.soft_bounce_streak == 1
    assert view.state.retry_at == T0 + H


async def test_a_message_applied_in_part_is_quarantined_too_and_redelivery_changes_nothing(
    store: Store, empty_database: str
) -> None:
    bounce = hard_bounce([A, B], T0)
    held = Quarantined("bounce", bounce.sqs_message_id, b"raw bytes", "unreadable_recipients", "1 of 3 ...")
    in_part = replace(bounce, quarantine=held)
    first = await store.commit([in_part], now=T0 + H)
    assert first.events == {("bounce", "suppress"): 2}
    assert first.quarantined == {("bounce", "unreadable_recipients"): 1}
    assert await _status(store, A) is await _status(store, B) is Status.SUPPRESSED
    (item,) = await store.quarantine_list()
    assert (item.sqs_message_id, item.code, item.detail) == (bounce.sqs_message_id, held.code, held.detail)
    again = await store.commit([in_part], now=T0 + 2 * H)  # SQS delivers it again
    assert (again.new_events, again.duplicates, again.quarantined) == (0, 2, {})
    assert await _count(empty_database, "SELECT count(*) FROM quarantine") == 1
    assert await _count(empty_database, "SELECT count(*) FROM events") == 2


async def test_a_notification_published_twice_in_one_batch_counts_once(
    store: Store, empty_database: str
) -> None:
    original = soft_bounce([A], T0)
    twin = Classified("bounce", "another-sqs-id", original.notification, original.decisions)
    summary = await store.commit([original, twin], now=T0)
    assert summary.events == {("bounce", "retry"): 1}
    assert summary.duplicates == 1
    assert await _count(empty_database, "SELECT count(*) FROM notifications") == 1
    assert await store.pending_retry_count() == 1


async def test_a_notification_is_stored_once_and_its_audit_rows_point_at_it(
    store: Store, empty_database: str
) -> None:
    wide = hard_bounce([f"r{i}@example.com" for i in range(200)], T0)
    await store.commit([wide], now=T0 + H)
    conn = await asyncpg.connect(empty_database)
    try:
        (row,) = await conn.fetch("SELECT * FROM notifications")
        assert row["payload"] == wide.notification.payload
        assert (row["source"], row["kind"], row["queue"]) == ("raw", "bounce", "bounce")
        assert (row["sqs_message_id"], row["sent_at"]) == (wide.sqs_message_id, wide.sent_at)
        assert (row["occurred_at"], row["time_source"], row["claimed_time"]) == (T0, "feedback", None)
        assert row["recorded_at"] == T0 + H
        pointed = await conn.fetch("SELECT DISTINCT notification_id FROM events")
        assert [r["notification_id"] for r in pointed] == [row["id"]]
    finally:
        await conn.close()


async def _pointing(dsn: str) -> tuple[int, int, int]:
    """(notifications, events, distinct non-null notification ids of events)."""
    return (
        await _count(dsn, "SELECT count(*) FROM notifications"),
        await _count(dsn, "SELECT count(*) FROM events"),
        await _count(dsn, "SELECT count(DISTINCT notification_id) FROM events"),
    )


@pytest.mark.parametrize("with_poison", [False, True], ids=["alone", "with-quarantine"])
async def test_a_payload_recorded_before_is_pointed_at_not_stored_again(
    store: Store, empty_database: str, *, with_poison: bool
) -> None:
    """Two messages with the same SES record but events of their own (an SNS double publish whose
    audit keys differ): the second's audit rows point at the first's notification."""
    first = hard_bounce([A], T0)
    second = applied(replace(first.notification, feedback_id="fb-other"), Action.SUPPRESS)
    await store.commit([first], now=T0)
    summary = await store.commit([second, poison()] if with_poison else [second], now=T0 + H)
    assert summary.new_events == 1
    assert await _pointing(empty_database) == (1, 2, 1)


async def test_concurrent_copies_of_one_payload_are_stored_once(store: Store, empty_database: str) -> None:
    base = hard_bounce([A], T0).notification
    copies = [
        applied(
            replace(base, feedback_id=f"fb-{i}", recipients=(Recipient(f"u{i}@example.com"),)),
            Action.SUPPRESS,
        )
        for i in range(10)
    ]
    summaries = await asyncio.gather(*(store.commit([c], now=T0) for c in copies))
    assert sum(s.new_events for s in summaries) == 10
    assert await _pointing(empty_database) == (1, 10, 1)
    assert await _count(empty_database, "SELECT count(*) FROM events WHERE notification_id IS NULL") == 0


async def test_an_older_bounce_after_a_newer_delivery_changes_nothing(store: Store) -> None:
    await store.commit([delivery([A], T0 + H)], now=T0 + 2 * H)
    await store.commit([soft_bounce([A], T0)], now=T0 + 2 * H)
    await store.commit([hard_bounce([A], T0)], now=T0 + 2 * H)
    view = await store.recipient(A)
    assert view is not None
    assert view.state.status is Status.ACTIVE
    assert view.state.soft_bounce_streak == 0
    assert await store.pending_retry_count() == 0
    assert [e.kind for e in view.events] == ["delivery", "bounce", "bounce"]


async def test_an_older_delivery_after_a_newer_bounce_does_not_reset(store: Store) -> None:
    await store.commit([soft_bounce([A], T0 + H)], now=T0 + 2 * H)
    await store.commit([delivery([A], T0)], now=T0 + 2 * H)
    assert await _status(store, A) is Status.DEFERRED
    assert await store.pending_retry_count() == 1


async def test_events_in_one_batch_apply_in_order_of_occurrence(store: Store) -> None:
    await store.commit([delivery([A], T0 + H), soft_bounce([A], T0)], now=T0 + 2 * H)
    assert await _status(store, A) is Status.ACTIVE
    assert await store.pending_retry_count() == 0


async def test_concurrent_commits_neither_deadlock_nor_lose_increments(empty_database: str) -> None:
    policy = RetryPolicy(windows={"General": (H,) * 100})
    addresses = [f"user{i}@example.com" for i in range(8)]
    rng = random.Random(7)
    batches = [[soft_bounce(rng.sample(addresses, len(addresses)), T0)] for _ in range(40)]
    async with migrated_store(empty_database, policy, max_size=10) as store:
        await asyncio.wait_for(asyncio.gather(*(store.commit(b, now=T0) for b in batches)), timeout=60)
        for address in addresses:
            view = await store.recipient(address)
            assert view is not None
            assert view.state.soft_bounce_streak == 40
        assert await store.pending_retry_count() == len(addresses)


async def test_concurrent_redeliveries_record_each_event_once(store: Store, empty_database: str) -> None:
    batch: list[Outcome] = [soft_bounce([A, B, C], T0), hard_bounce([B], T0 + H)]
    summaries = await asyncio.gather(*(store.commit(batch, now=T0) for _ in range(10)))
    assert sum(s.new_events for s in summaries) == 4
    assert await _pointing(empty_database) == (2, 4, 2)
    assert await store.pending_retry_count() == 2


async def test_two_schedulers_release_each_retry_exactly_once(store: Store, empty_database: str) -> None:
    addresses = [f"r{i}@example.com" for i in range(60)]
    await store.commit([soft_bounce(addresses, T0)], now=T0)
    other = await Store.connect(empty_database, policy=DEFAULT_POLICY)

    async def drain(s: Store) -> list[int]:
        ids: list[int] = []
        while batch := await s.release_due_retries(T0 + 2 * H, limit=7):
            ids += [r.id for r in batch]
        return ids

    try:
        first, second = await asyncio.gather(drain(store), drain(other))
    finally:
        await other.close()
    assert len(first) + len(second) == 60
    assert len(set(first) | set(second)) == 60
    assert (await store.recipient_counts())["active"] == 60
    assert await store.pending_retry_count() == 0


async def test_nothing_is_released_before_it_is_due(store: Store) -> None:
    await store.commit([soft_bounce([A], T0)], now=T0)
    assert await store.release_due_retries(T0 + H - timedelta(seconds=1), limit=10) == []
    assert await _status(store, A) is Status.DEFERRED


async def test_mailbox_full_climbs_its_windows_then_escalates(store: Store, empty_database: str) -> None:
    now = T0
    for attempt, window in enumerate((1 * D, 3 * D, 7 * D), start=1):
        await store.commit([soft_bounce([A], now, "MailboxFull")], now=now)
        view = await store.recipient(A)
        assert view is not None
        assert (view.state.status, view.state.retry_at, view.state.soft_bounce_streak) == (
            Status.DEFERRED,
            now + window,
            attempt,
        )
        assert await store.release_due_retries(now + window - H, limit=10) == []
        released = await store.release_due_retries(now + window, limit=10)
        assert [(r.address, r.attempt, r.cause, r.reactivated) for r in released] == [
            (A, attempt, "MailboxFull", True)
        ]
        assert await _status(store, A) is Status.ACTIVE
        now = now + window + H
    summary = await store.commit([soft_bounce([A], now, "MailboxFull")], now=now)
    assert summary.escalations == {"MailboxFull": 1}
    view = await store.recipient(A)
    assert view is not None
    assert view.state.status is Status.SUPPRESSED
    assert view.state.escalated is True
    assert view.state.escalated_after_attempts == 3
    assert view.state.retry_at is None
    states = await _count(
        empty_database, "SELECT count(*) FROM retries WHERE state = 'escalated' AND attempt = 4"
    )
    assert states == 1


async def test_a_delivery_resets_the_streak_and_cancels_the_retry(store: Store, empty_database: str) -> None:
    await store.commit([soft_bounce([A], T0)], now=T0)
    await store.commit([soft_bounce([A], T0 + H)], now=T0 + H)
    await store.commit([delivery([A], T0 + 2 * H)], now=T0 + 2 * H)
    assert await _status(store, A) is Status.ACTIVE
    assert await store.pending_retry_count() == 0
    assert await _count(empty_database, "SELECT count(*) FROM retries WHERE state = 'cancelled'") == 2
    assert await store.release_due_retries(T0 + 10 * D, limit=10) == []
    await store.commit([soft_bounce([A], T0 + 3 * H)], now=T0 + 3 * H)
    pending = await store.pending_retries()
    assert [(r.address, r.attempt) for r in pending] == [(A, 1)]


async def test_a_suppressed_address_gets_no_retry(store: Store) -> None:
    await store.commit([hard_bounce([A], T0)], now=T0)
    summary = await store.commit([soft_bounce([A], T0 + H)], now=T0 + H)
    assert summary.retries_scheduled == {}
    assert await store.pending_retry_count() == 0
    view = await store.recipient(A)
    assert view is not None
    assert (view.state.status, view.state.reason) == (Status.SUPPRESSED, "user-unknown")


async def test_a_suppression_cancels_the_pending_retry(store: Store) -> None:
    await store.commit([soft_bounce([A], T0)], now=T0)
    await store.commit([hard_bounce([A], T0 + H)], now=T0 + H)
    assert await store.pending_retry_count() == 0
    assert await store.release_due_retries(T0 + D, limit=10) == []


async def test_release_notifies_the_documented_channel(store: Store, empty_database: str) -> None:
    await store.commit([soft_bounce([A], T0)], now=T0)
    listener = await asyncpg.connect(empty_database)
    received: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener(RETRY_RELEASED_CHANNEL, lambda *args: received.put_nowait(args[3]))
    try:
        [released] = await store.release_due_retries(T0 + 2 * H, limit=10)
        payload = json.loads(await asyncio.wait_for(received.get(), timeout=5))
    finally:
        await listener.close()
    assert payload["id"] == released.id
    assert (payload["address"], payload["attempt"], payload["cause"]) == (A, 1, "General")


async def test_the_outbox_keeps_releases_until_announced(store: Store) -> None:
    await store.commit([soft_bounce([A, B], T0)], now=T0)
    released = await store.release_due_retries(T0 + 2 * H, limit=10)
    assert len(released) == 2
    assert await store.unannounced_releases(10, released_before=T0 + H) == []
    waiting = await store.unannounced_releases(10)
    assert sorted(r.id for r in waiting) == sorted(r.id for r in released)
    await store.mark_announced([waiting[0].id], now=T0 + 3 * H)
    assert [r.id for r in await store.unannounced_releases(10)] == [waiting[1].id]


async def test_a_redelivered_poison_message_is_kept_once(store: Store) -> None:
    first = await store.commit([poison(sqs_message_id="m-1")], now=T0)
    again = await store.commit([poison(sqs_message_id="m-1")], now=T0 + H)
    assert first.quarantined == {("bounce", "not_json"): 1}
    assert again.quarantined == {}
    [kept] = await store.quarantine_list()
    assert (kept.sqs_message_id, kept.code, kept.received_at) == ("m-1", "not_json", T0)


async def test_recipient_view_lists_events_newest_first(store: Store) -> None:
    await store.commit([soft_bounce([A], T0)], now=T0)
    await store.commit([delivery([A], T0 + 2 * H)], now=T0 + 2 * H)
    await store.commit([soft_bounce([A], T0 + H)], now=T0 + 3 * H)
    view = await store.recipient(A)
    assert view is not None
    assert [(e.kind, e.occurred_at) for e in view.events] == [
        ("delivery", T0 + 2 * H),
        ("bounce", T0 + H),
        ("bounce", T0),
    ]
    assert await store.recipient("nobody@example.com") is None


async def test_counts_and_pending_lists(store: Store) -> None:
    await store.commit(
        [soft_bounce([A], T0), soft_bounce([B], T0, "MailboxFull"), hard_bounce([C], T0)], now=T0
    )
    assert await store.recipient_counts() == {"active": 0, "deferred": 2, "suppressed": 1, "review": 0}
    assert await store.pending_retry_count() == 2
    assert [r.address for r in await store.pending_retries()] == [A, B]
    assert [r.address for r in await store.pending_retries(due_before=T0 + 2 * H)] == [A]


async def test_ping_and_schema_status(store: Store) -> None:
    await store.ping()
    assert (await store.schema_status()).state.value == "current"


async def test_releases_racing_commits_on_the_same_addresses_never_deadlock(empty_database: str) -> None:
    addresses = [f"x{i}@example.com" for i in range(10)]
    released: list[int] = []

    done = asyncio.Event()

    async def commits(store: Store) -> None:
        for n in range(1, 15):
            batch = soft_bounce(addresses[::-1] if n % 2 else addresses, T0 + n * H)
            await store.commit([batch], now=T0 + n * H)
        done.set()

    async def releases(store: Store) -> None:
        while not done.is_set():
            released.extend(r.id for r in await store.release_due_retries(T0 + 100 * H, limit=3))

    policy = RetryPolicy(windows={"General": (H,) * 100})
    async with migrated_store(empty_database, policy, max_size=10) as store:
        await store.commit([soft_bounce(addresses, T0)], now=T0)
        await asyncio.wait_for(asyncio.gather(commits(store), releases(store), releases(store)), timeout=60)
        for address in addresses:
            view = await store.recipient(address)
            assert view is not None
            assert view.state.soft_bounce_streak == 15
        assert len(released) == len(set(released)) > 0
        assert await store.pending_retry_count() <= len(addresses)


class RacedStore(Store):
    """A store whose first read of a batch's state rows is followed, before its write, by a person
    suppressing the address through another connection: the race `write_batch`'s version check
    exists for."""

    raced = False

    async def _read_states(self, conn: Any, addresses: Sequence[str]) -> dict[str, Any]:
        states = await super()._read_states(conn, addresses)
        if not self.raced and len(addresses) == 1 and addresses[0] == A:
            self.raced = True
            decide = partial(manual.suppressed, address=A, now=T0 + H)
            await self.override(A, decide, action=Action.SUPPRESS, actor="ann", note="asked", now=T0 + H)
        return states


async def test_a_write_planned_from_a_stale_read_is_refused_and_planned_again(empty_database: str) -> None:
    """The soft bounce was decided on an active row that a person suppressed meanwhile: the write
    must not overwrite the suppression with a deferral (a lost update). It is refused, planned
    again against the suppressed row, and recorded once."""
    async with migrated_store(empty_database, DEFAULT_POLICY, max_size=4) as store:
        await store.commit([delivery([A], T0)], now=T0)
        raced = RacedStore(store._pool, DEFAULT_POLICY, lambda: 0.0)
        summary = await raced.commit([soft_bounce([A], T0 + 2 * H)], now=T0 + 2 * H)
        assert raced.raced
        assert summary.new_events == 1
        assert summary.retries_scheduled == {}
        assert await _status(store, A) is Status.SUPPRESSED
        assert await store.pending_retry_count() == 0
    assert await _count(empty_database, "SELECT count(*) FROM events WHERE kind = 'bounce'") == 1


class ContendedStore(Store):
    """A store whose first `conflicts` reads are each followed, before the write planned from them,
    by another writer changing the same addresses' rows (as a concurrent batch would)."""

    def __init__(self, store: Store, dsn: str, conflicts: int) -> None:
        super().__init__(store._pool, DEFAULT_POLICY, lambda: 0.0)
        self._dsn = dsn
        self.left = conflicts
        self.reads = 0

    async def _read_states(self, conn: Any, addresses: Sequence[str]) -> dict[str, Any]:
        states = await super()._read_states(conn, addresses)
        self.reads += 1
        if self.left > 0:
            self.left -= 1
            other = await asyncpg.connect(self._dsn)
            try:
                await other.execute(
                    "UPDATE recipients SET updated_at = updated_at WHERE address = ANY($1::text[])",
                    list(addresses),
                )
            finally:
                await other.close()
        return states


async def test_contention_however_long_never_fails_a_commit(store: Store, empty_database: str) -> None:
    """Twenty conflicts in a row on the same rows (more than any fixed budget of tries): the batch
    is planned again each time and written once, whole."""
    await store.commit([delivery([A, B], T0)], now=T0)
    contended = ContendedStore(store, empty_database, conflicts=20)
    summary = await contended.commit([soft_bounce([A, B], T0 + H), hard_bounce([C], T0 + H)], now=T0 + H)
    assert contended.reads == 21
    assert summary.events == {("bounce", "retry"): 2, ("bounce", "suppress"): 1}
    assert summary.retries_scheduled == {"General": 2}
    assert await _status(store, A) is await _status(store, B) is Status.DEFERRED
    assert await _status(store, C) is Status.SUPPRESSED
    assert await store.pending_retry_count() == 2
    assert await _count(empty_database, "SELECT count(*) FROM events WHERE kind = 'bounce'") == 3
    assert await store.quarantine_list() == []


async def test_an_override_that_meets_a_conflict_is_planned_again(store: Store, empty_database: str) -> None:
    await store.commit([soft_bounce([A], T0)], now=T0)
    contended = ContendedStore(store, empty_database, conflicts=3)
    decide = partial(manual.suppressed, address=A, now=T0 + H)
    result = await contended.override(
        A, decide, action=Action.SUPPRESS, actor="ann", note="asked", now=T0 + H
    )
    assert contended.reads == 4
    assert result.before is not None
    assert result.before.status is Status.DEFERRED
    assert result.after is not None
    view = await store.recipient(A)
    assert view is not None
    assert (view.state.status, view.state.reason, view.state.event_id) == (
        Status.SUPPRESSED,
        manual.MANUAL,
        result.after.event_id,
    )
    (latest, *_) = view.events
    assert (latest.id, latest.kind, latest.actor, latest.note) == (
        result.after.event_id,
        "manual",
        "ann",
        "asked",
    )
    assert await store.pending_retry_count() == 0
    assert await _count(empty_database, "SELECT count(*) FROM events WHERE kind = 'manual'") == 1


def test_the_pause_after_a_conflict_is_jittered_doubling_and_capped() -> None:
    assert conflict_pause(1, 0.0) == 0.0
    assert conflict_pause(1, 0.5) == pytest.approx(CONFLICT_PAUSE_FIRST / 2)
    assert conflict_pause(3, 0.5) == pytest.approx(CONFLICT_PAUSE_FIRST * 2)
    assert conflict_pause(1000, 0.999) < CONFLICT_PAUSE_MAX
