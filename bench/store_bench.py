"""The store alone: bounced committing batches of notifications (audit rows + state upserts) against
COPY of the same rows into a table shaped like an audit log, on the same server, batch for batch."""

from __future__ import annotations

import asyncio
import importlib
import json
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from bench import bodies

AUDIT_TABLE = """
CREATE TABLE copy_events (
    id bigserial PRIMARY KEY,
    idempotency_id text NOT NULL,
    address text NOT NULL,
    kind text NOT NULL,
    occurred_at timestamptz NOT NULL,
    action text NOT NULL,
    reason text NOT NULL,
    queue text NOT NULL,
    sqs_message_id text NOT NULL,
    payload jsonb NOT NULL
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

# A plain decision per generated body, close enough to the classifier's for the store's cost.
ACTIONS = {"Complaint": ("suppress", "complaint"), "Delivery": ("clear", "delivered")}


def action_of(body: bodies.Body) -> tuple[str, str]:
    """(action, reason) for a generated body."""
    if body.kind != "Bounce":
        return ACTIONS[body.kind]
    if body.bounce_type == "Transient":
        return "retry", "transient"
    return "suppress", "permanent"


def inner_json(body: bodies.Body) -> str:
    """The SES JSON of a body, without its SNS envelope."""
    if body.sns_wrapped:
        message: str = json.loads(body.text)["Message"]
        return message
    return body.text


def copy_records(rows: Sequence[bodies.Body]) -> list[tuple[Any, ...]]:
    """The audit rows COPY writes, one per body."""
    records = []
    for body in rows:
        action, reason = action_of(body)
        records.append(
            (
                body.feedback_id,
                body.address.lower(),
                body.kind.lower(),
                body.occurred_at,
                action,
                reason,
                "bounce",
                str(uuid.uuid4()),
                inner_json(body),
            )
        )
    return records


async def copy_rate(dsn: str, rows: Sequence[bodies.Body], batch: int) -> float:
    """Rows per second COPY commits, one transaction per `batch` rows."""
    records = copy_records(rows)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(AUDIT_TABLE)
        started = time.perf_counter()
        for start in range(0, len(records), batch):
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "copy_events", records=records[start : start + batch], columns=COLUMNS
                )
        return len(records) / (time.perf_counter() - started)
    finally:
        await conn.close()


def bounced_unavailable() -> str | None:
    """Why the bounced side cannot run yet, or None."""
    try:
        store_module()
    except ImportError as error:
        return f"bounced.store is not importable yet ({error})"
    return None


def applied_outcomes(rows: Sequence[bodies.Body]) -> list[Any]:
    """The bodies as the consumer hands them to the store (`bounced.model.Applied`)."""
    from bounced import model  # noqa: PLC0415

    outcomes = []
    for body in rows:
        action, reason = action_of(body)
        notification = model.Notification(
            kind=model.Kind(body.kind.lower()),
            occurred_at=body.occurred_at,
            recipients=(model.Recipient(body.address.lower()),),
            ses_message_id=body.ses_message_id,
            feedback_id=body.feedback_id,
            bounce_type=body.bounce_type,
            bounce_subtype=body.bounce_subtype,
            payload=inner_json(body),
        )
        decision = model.Decision(
            action=model.Action(action),
            address=body.address.lower(),
            reason=reason,
            cause=body.bounce_subtype if action == "retry" else None,
        )
        outcomes.append(model.Applied("bounce", str(uuid.uuid4()), notification, (decision,)))
    return outcomes


async def bounced_rate(dsn: str, rows: Sequence[bodies.Body], batch: int) -> float:
    """Rows per second `bounced.store.Store.commit(outcomes, now)` commits, `batch` outcomes a call.

    The database must be migrated. How a Store is opened is the one guess here: adjust `_open_store`
    when the store's API settles."""
    outcomes = applied_outcomes(rows)
    store, close = await _open_store(dsn)
    try:
        started = time.perf_counter()
        for start in range(0, len(outcomes), batch):
            await store.commit(outcomes[start : start + batch], datetime.now(UTC))
        return len(outcomes) / (time.perf_counter() - started)
    finally:
        await close()


def store_module() -> Any:
    """`bounced.store`, imported by name: it lands from another branch, and this must run before."""
    return importlib.import_module("bounced.store")


async def _open_store(dsn: str) -> tuple[Any, Any]:
    Store = store_module().Store

    for opener in ("connect", "open", "create"):
        if hasattr(Store, opener):
            store = await getattr(Store, opener)(dsn)
            return store, getattr(store, "close", _nothing)
    pool = await asyncpg.create_pool(dsn)
    return Store(pool), pool.close


async def _nothing() -> None:
    await asyncio.sleep(0)
