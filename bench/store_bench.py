"""The store alone: bounced committing batches of notifications (audit rows + state upserts) against
COPY of the same rows into a table shaped like an audit log, on the same server, batch for batch.

Both sides start from the same outcomes, made the way the consumer makes them (bounced's parser and
classifier over the generated bodies) before the clock starts: only the writes are timed.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bench import bodies
from bounced.core.batch import event_records, event_rows, provisional_ids
from bounced.core.classify import classify
from bounced.core.model import Action, Classified, Status
from bounced.core.parse import parse_body
from bounced.core.policy import DEFAULT_POLICY
from bounced.db.store import Store

QUEUE = "bounce"
# The columns Store.commit writes into `events` (bounced_event_input's first ones, then recorded_at;
# COPY leaves actor, note and notification_id NULL, in its favour).
EVENT_COLUMNS = (
    "kind",
    "action",
    "address",
    "reason",
    "cause",
    "bounce_type",
    "bounce_subtype",
    "complaint_feedback_type",
    "complaint_subtype",
    "delay_type",
    "dsn_status",
    "diagnostic_code",
    "feedback_id",
    "ses_message_id",
    "sns_message_id",
    "queue",
    "sqs_message_id",
    "occurred_at",
    "recorded_at",
)
# The notification of each message, its payload once (write_batch's $14, then recorded_at).
NOTIFICATION_COLUMNS = (
    "digest",
    "source",
    "kind",
    "feedback_id",
    "ses_message_id",
    "sns_message_id",
    "queue",
    "sqs_message_id",
    "sent_at",
    "occurred_at",
    "time_source",
    "claimed_time",
    "payload",
    "recorded_at",
)
# The state row of each address (a new address, as in the benchmark's stream).
RECIPIENT_COLUMNS = (
    "address",
    "status",
    "reason",
    "kind",
    "bounce_type",
    "bounce_subtype",
    "event_occurred_at",
    "soft_bounce_streak",
    "retry_at",
    "since",
    "created_at",
    "updated_at",
)


def outcomes_of(rows: Sequence[bodies.Body]) -> list[Classified]:
    """The bodies as the consumer hands them to the store: parsed and classified by bounced."""
    outcomes = []
    for body in rows:
        notification = parse_body(body.text.encode())
        outcomes.append(Classified(QUEUE, str(uuid.uuid4()), notification, classify(notification)))
    return outcomes


def copy_records(
    outcomes: Sequence[Classified], now: datetime
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The rows Store.commit writes, for COPY: the notifications into `notifications` and the audit
    rows into `events` (the same columns, from the store's own row builder), and a state row per
    address into `recipients`. The retries a transient bounce schedules are left out, in COPY's
    favour."""
    rows = event_rows(outcomes)
    inputs, notifications = event_records(rows, provisional_ids(len(rows)))
    events = [(*values[: len(EVENT_COLUMNS) - 1], now) for values in inputs]
    states: dict[str, tuple[Any, ...]] = {}
    for applied in outcomes:
        n = applied.notification
        for decision in applied.decisions:
            if decision.address is None or decision.action is Action.IGNORE:
                continue
            status = _STATUS_OF[decision.action]
            retry_at = n.occurred_at + timedelta(hours=1) if status is Status.DEFERRED else None
            states[decision.address] = (
                decision.address,
                status.value,
                decision.reason,
                n.kind.value,
                n.bounce_type,
                n.bounce_subtype,
                n.occurred_at,
                int(status is Status.DEFERRED),
                retry_at,
                now,
                now,
                now,
            )
    return [(*values, now) for values in notifications], events, sorted(states.values())


_STATUS_OF = {
    Action.SUPPRESS: Status.SUPPRESSED,
    Action.RETRY: Status.DEFERRED,
    Action.REVIEW: Status.REVIEW,
    Action.CLEAR: Status.ACTIVE,
}


async def copy_rate(dsn: str, outcomes: Sequence[Classified], batch: int) -> float:
    """Notifications per second COPY commits into bounced's own (migrated) tables, one transaction
    per `batch` notifications."""
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        for start in range(0, len(outcomes), batch):
            notifications, events, states = copy_records(outcomes[start : start + batch], datetime.now(UTC))
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "notifications", records=notifications, columns=NOTIFICATION_COLUMNS
                )
                await conn.copy_records_to_table("events", records=events, columns=EVENT_COLUMNS)
                await conn.copy_records_to_table("recipients", records=states, columns=RECIPIENT_COLUMNS)
        return len(outcomes) / (time.perf_counter() - started)
    finally:
        await conn.close()


async def bounced_rate(dsn: str, outcomes: Sequence[Classified], batch: int) -> float:
    """Notifications per second `Store.commit(outcomes, now)` commits, `batch` outcomes a call.
    The database must be migrated."""
    store = await Store.connect(dsn, policy=DEFAULT_POLICY, min_size=1, max_size=1, jitter=random.random)
    try:
        started = time.perf_counter()
        for start in range(0, len(outcomes), batch):
            await store.commit(outcomes[start : start + batch], datetime.now(UTC))
        return len(outcomes) / (time.perf_counter() - started)
    finally:
        await store.close()
