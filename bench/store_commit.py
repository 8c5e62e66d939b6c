"""Store.commit against COPY of the same audit rows, per batch size (a measurement, not a test).

Run: `.venv/bin/python -m bench.store_commit 1 10 100 1000` (uses BOUNCED_TEST_DSN or a throwaway
pgserver). Prints rows/s for both and their ratio; the target is commit >= 0.5x COPY.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta

import asyncpg

from bounced.core.batch import event_records, event_rows, provisional_ids
from bounced.core.model import Classified
from bounced.core.policy import DEFAULT_POLICY
from tests.support import postgres
from tests.support.outcomes import delivery, hard_bounce, migrated_store, soft_bounce

T0 = datetime(2026, 3, 1, tzinfo=UTC)
COLUMNS = [
    "kind", "action", "address", "reason", "cause", "bounce_type", "bounce_subtype",
    "complaint_feedback_type", "complaint_subtype", "delay_type", "dsn_status", "diagnostic_code",
    "feedback_id", "ses_message_id", "sns_message_id", "queue", "sqs_message_id", "occurred_at",
    "recorded_at",
]  # fmt: skip
NOTIFICATION_COLUMNS = [
    "digest", "source", "kind", "feedback_id", "ses_message_id", "sns_message_id", "queue",
    "sqs_message_id", "sent_at", "occurred_at", "time_source", "claimed_time", "payload", "recorded_at",
]  # fmt: skip


def batches(count: int, size: int, tag: str) -> list[list[Classified]]:
    """`count` batches of `size` one-recipient messages: a third each soft, hard and delivered."""
    kinds = (soft_bounce, delivery, hard_bounce)
    return [
        [kinds[i % 3]([f"{tag}{b}-{i}@example.com"], T0 + timedelta(seconds=i)) for i in range(size)]
        for b in range(count)
    ]


async def measure(dsn: str, size: int) -> tuple[float, float]:
    """(commit rows/s, COPY rows/s) for batches of `size`."""
    count = max(20, 2000 // size)
    async with migrated_store(dsn, DEFAULT_POLICY) as store:
        started = time.perf_counter()
        for batch in batches(count, size, "c"):
            await store.commit(batch, now=T0)
        commit_rate = count * size / (time.perf_counter() - started)
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        for batch in batches(count, size, "p"):
            rows = event_rows(batch)
            inputs, notification_inputs = event_records(rows, provisional_ids(len(rows)))
            records = [(*values[: len(COLUMNS) - 1], T0) for values in inputs]
            notifications = [(*v, T0) for v in notification_inputs]
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "notifications", records=notifications, columns=NOTIFICATION_COLUMNS
                )
                await conn.copy_records_to_table("events", records=records, columns=COLUMNS)
        copy_rate = count * size / (time.perf_counter() - started)
    finally:
        await conn.close()
    return commit_rate, copy_rate


async def main(sizes: list[int]) -> None:
    with postgres.server_dsn() as admin:
        for size in sizes:
            dsn = await postgres.create_database(admin)
            try:
                commit_rate, copy_rate = await measure(dsn, size)
            finally:
                await postgres.drop_database(admin, dsn)
            ratio = commit_rate / copy_rate
            rates = f"commit {commit_rate:8.0f} rows/s  COPY {copy_rate:8.0f} rows/s"
            print(f"batch {size:>5}: {rates}  ratio {ratio:.2f}")


if __name__ == "__main__":
    asyncio.run(main([int(a) for a in sys.argv[1:]] or [1, 10, 100, 1000]))
