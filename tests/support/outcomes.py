"""Outcomes as the consumer hands them to the store, built by hand (no parser or classifier)."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

from bounced.core.model import Action, Classified, Decision, Kind, Notification, Quarantined, Recipient
from bounced.core.policy import RetryPolicy
from bounced.db.migrate import migrate_database
from bounced.db.store import Store

_ids = itertools.count(1)


def _next(prefix: str) -> str:
    return f"{prefix}-{next(_ids):06d}"


def notification(
    kind: Kind,
    addresses: Sequence[str],
    at: datetime,
    *,
    bounce_type: str | None = None,
    bounce_subtype: str | None = None,
    feedback_id: str | None = None,
    ses_message_id: str | None = None,
) -> Notification:
    """A notification of `kind` about `addresses`, with fresh ids unless given."""
    has_feedback = kind in (Kind.BOUNCE, Kind.COMPLAINT)
    ses_message_id = ses_message_id or _next("ses")
    feedback_id = feedback_id or (_next("fb") if has_feedback else None)
    # Like SES's, the payload names its ids and time: two notifications never share one.
    payload = {
        "notificationType": kind.value,
        "recipients": list(addresses),
        "messageId": ses_message_id,
        "feedbackId": feedback_id,
        "timestamp": at.isoformat(),
    }
    return Notification(
        kind=kind,
        occurred_at=at,
        recipients=tuple(Recipient(a, diagnostic_code="smtp; 550 test") for a in addresses),
        ses_message_id=ses_message_id,
        feedback_id=feedback_id,
        bounce_type=bounce_type,
        bounce_subtype=bounce_subtype,
        payload=json.dumps(payload),
    )


def applied(
    n: Notification,
    action: Action,
    *,
    reason: str = "test",
    cause: str | None = None,
    queue: str = "bounce",
    sent_at: datetime | None = None,
) -> Classified:
    """`n` with the same decision for each of its recipients, as one SQS message."""
    decisions = tuple(Decision(action, r.address, reason, cause=cause) for r in n.recipients)
    return Classified(queue, _next("sqs"), n, decisions, sent_at=sent_at or n.occurred_at)


def soft_bounce(addresses: Sequence[str], at: datetime, subtype: str = "General") -> Classified:
    """A Transient bounce the classifier would retry under `subtype`."""
    n = notification(Kind.BOUNCE, addresses, at, bounce_type="Transient", bounce_subtype=subtype)
    return applied(n, Action.RETRY, reason="soft", cause=subtype)


def hard_bounce(addresses: Sequence[str], at: datetime) -> Classified:
    """A Permanent/General bounce: suppress."""
    n = notification(Kind.BOUNCE, addresses, at, bounce_type="Permanent", bounce_subtype="General")
    return applied(n, Action.SUPPRESS, reason="user-unknown")


def delivery(addresses: Sequence[str], at: datetime) -> Classified:
    """A delivery: clear."""
    return applied(
        notification(Kind.DELIVERY, addresses, at), Action.CLEAR, reason="delivered", queue="delivery"
    )


def poison(queue: str = "bounce", sqs_message_id: str | None = None) -> Quarantined:
    """An unreadable message."""
    return Quarantined(
        queue, sqs_message_id or _next("sqs"), b"\xff not json", "not_json", "body is not JSON"
    )


@asynccontextmanager
async def migrated_store(dsn: str, policy: RetryPolicy, **kwargs: object) -> AsyncIterator[Store]:
    """A Store over a freshly migrated database, closed afterwards."""
    await migrate_database(dsn)
    store = await Store.connect(dsn, policy=policy, jitter=lambda: 0.0, **kwargs)  # type: ignore[arg-type]
    try:
        yield store
    finally:
        await store.close()
