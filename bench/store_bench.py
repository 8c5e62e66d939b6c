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
from datetime import UTC, datetime
from typing import Any

import asyncpg

from bench import bodies
from bounced.classify import classify
from bounced.model import Applied
from bounced.parse import parse_body
from bounced.policy import DEFAULT_POLICY
from bounced.store import Store

QUEUE = "bounce"
AUDIT_TABLE = """
CREATE TABLE copy_events (
    id bigserial PRIMARY KEY,
    idempotency_id text NOT NULL,
    address text,
    kind text NOT NULL,
    occurred_at timestamptz NOT NULL,
    action text NOT NULL,
    reason text NOT NULL,
    queue text NOT NULL,
    sqs_message_id text NOT NULL,
    payload text NOT NULL
)
"""
COLUMNS = (
    "idempotency_id",
    "address",
    "kind",
    "occurred_at",
    "action",
    "reason",
    "queue",
    "sqs_message_id",
    "payload",
)


def outcomes_of(rows: Sequence[bodies.Body]) -> list[Applied]:
    """The bodies as the consumer hands them to the store: parsed and classified by bounced."""
    outcomes = []
    for body in rows:
        notification = parse_body(body.text.encode())
        outcomes.append(Applied(QUEUE, str(uuid.uuid4()), notification, classify(notification)))
    return outcomes


def copy_records(outcomes: Sequence[Applied]) -> list[tuple[Any, ...]]:
    """The audit rows COPY writes: one per decision, the columns bounced's audit row has at least."""
    return [
        (
            applied.notification.idempotency_id or applied.sqs_message_id,
            decision.address,
            applied.notification.kind.value,
            applied.notification.occurred_at,
            decision.action.value,
            decision.reason,
            applied.queue,
            applied.sqs_message_id,
            applied.notification.payload,
        )
        for applied in outcomes
        for decision in applied.decisions
    ]


async def copy_rate(dsn: str, outcomes: Sequence[Applied], batch: int) -> float:
    """Notifications per second COPY commits, one transaction per `batch` notifications."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(AUDIT_TABLE)
        started = time.perf_counter()
        for start in range(0, len(outcomes), batch):
            records = copy_records(outcomes[start : start + batch])
            async with conn.transaction():
                await conn.copy_records_to_table("copy_events", records=records, columns=COLUMNS)
        return len(outcomes) / (time.perf_counter() - started)
    finally:
        await conn.close()


async def bounced_rate(dsn: str, outcomes: Sequence[Applied], batch: int) -> float:
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
