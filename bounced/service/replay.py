"""Replaying quarantined messages: the stored raw bytes through the daemon's own reader and
classifier, committed through `Store.commit` like any received batch (so a replay is idempotent).

A message that reads now is marked replayed. One that still cannot be read stays quarantined with
the new reason. One whose SNS signing certificate cannot be fetched right now is left as it was.
One that reads but for some of its recipients (`unreadable_recipients`) has its readable recipients
applied (again: a no-op when they were before) and stays quarantined, not marked replayed, with the
detail naming the unreadable ones as they read now: no replay can apply those, and a person decides
(discard it, or replay it once a newer bounced reads them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from bounced.core.model import Quarantined
from bounced.db.store import Store
from bounced.ingest.reader import MessageReader
from bounced.ingest.sqs import Message


class Result(StrEnum):
    """What became of one quarantined message."""

    REPLAYED = "replayed"  # read, classified and committed
    STILL_BAD = "still_bad"  # still unreadable: kept, with the new reason
    PARTIAL = "partial"  # the readable recipients applied; kept for the unreadable ones
    DEFERRED = "deferred"  # the signing certificate could not be fetched: try again later
    SKIPPED = "skipped"  # discarded or already replayed: left alone
    NOT_FOUND = "not_found"

    @property
    def failed(self) -> bool:
        """Whether this counts as a failure for the exit status."""
        return self in (Result.STILL_BAD, Result.DEFERRED, Result.NOT_FOUND)


@dataclass(frozen=True, slots=True)
class Replay:
    """The result for one quarantine id, with the reason when it did not go through."""

    id: int
    result: Result
    code: str | None = None
    detail: str | None = None
    decisions: int = 0


async def replay(store: Store, reader: MessageReader, ids: Sequence[int], now: datetime) -> list[Replay]:
    """Replay each of `ids` in turn."""
    return [await replay_one(store, reader, quarantine_id, now) for quarantine_id in ids]


async def replay_one(store: Store, reader: MessageReader, quarantine_id: int, now: datetime) -> Replay:
    """Replay one quarantined message."""
    held = await store.quarantined(quarantine_id)
    if held is None:
        return Replay(quarantine_id, Result.NOT_FOUND)
    if held.discarded_at is not None or held.replayed_at is not None:
        why = "discarded" if held.discarded_at is not None else "already replayed"
        return Replay(quarantine_id, Result.SKIPPED, detail=why)
    # A fresh receive: the count that may have quarantined it says nothing about the bytes. The
    # quarantine keeps no SentTimestamp: when bounced first received it stands in (it bounds the
    # times the message may claim, and dates one that has none).
    message = Message(held.sqs_message_id, "", held.body, receive_count=1, sent_at=held.received_at)
    outcome = await reader.read(held.queue, message)
    if outcome is None:
        return Replay(quarantine_id, Result.DEFERRED, "certificate_unavailable", "try again later")
    if isinstance(outcome, Quarantined):
        await store.requarantine(quarantine_id, outcome.code, outcome.detail)
        return Replay(quarantine_id, Result.STILL_BAD, outcome.code, outcome.detail)
    if outcome.quarantine is not None:
        # Its own quarantine row is this one: commit the rest, then bring this row's reason up to date.
        await store.commit([replace(outcome, quarantine=None)], now)
        kept = outcome.quarantine
        await store.requarantine(quarantine_id, kept.code, kept.detail)
        return Replay(quarantine_id, Result.PARTIAL, kept.code, kept.detail, len(outcome.decisions))
    await store.commit([outcome], now)
    await store.mark_replayed(quarantine_id, now)
    return Replay(quarantine_id, Result.REPLAYED, decisions=len(outcome.decisions))
