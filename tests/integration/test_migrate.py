"""Migrations over a real PostgreSQL: the schema they build, concurrency, behind/ahead detection."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import pytest

from bounced.core.batch import payload_digest
from bounced.db.migrate import SchemaState, known_migrations, migrate, schema_status
from bounced.db.queries import QUERIES

EXPECTED_TABLES = {
    "events",
    "notifications",
    "recipients",
    "retries",
    "quarantine",
    "schema_migrations",
    "ses_suppression_outbox",
}


async def _tables(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {row["tablename"] for row in rows}


async def test_all_migrations_give_the_expected_tables(empty_database: str) -> None:
    conn = await asyncpg.connect(empty_database)
    try:
        assert (await schema_status(conn)).state is SchemaState.BEHIND
        applied = await migrate(conn)
        assert applied == tuple(m.version for m in known_migrations())
        assert await _tables(conn) == EXPECTED_TABLES
        assert (await schema_status(conn)).state is SchemaState.CURRENT
        assert await migrate(conn) == ()
    finally:
        await conn.close()


async def test_concurrent_migrate_applies_each_migration_once(empty_database: str) -> None:
    conns = [await asyncpg.connect(empty_database) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in conns))
        applied = sorted(v for result in results for v in result)
        assert applied == [m.version for m in known_migrations()]
        rows = await conns[0].fetch("SELECT version FROM schema_migrations")
        assert len(rows) == len(known_migrations())
    finally:
        for conn in conns:
            await conn.close()


async def test_behind_and_ahead_are_detected_with_the_command_to_run(empty_database: str) -> None:
    conn = await asyncpg.connect(empty_database)
    try:
        empty = await schema_status(conn)
        assert empty.state is SchemaState.BEHIND
        assert "run `bounced migrate`" in empty.message()
        await migrate(conn)
        await conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', $1)",
            datetime.now(UTC),
        )
        ahead = await schema_status(conn)
        assert ahead.state is SchemaState.AHEAD
        assert ahead.unknown == (9999,)
        assert "newer than this bounced" in ahead.message()
    finally:
        await conn.close()


async def test_every_named_query_prepares_against_the_schema(empty_database: str) -> None:
    conn = await asyncpg.connect(empty_database)
    try:
        await migrate(conn)
        for name, statement in QUERIES.items():
            try:
                await conn.prepare(statement)
            except asyncpg.PostgresError as error:
                raise AssertionError(f"query {name} does not prepare: {error}") from error
    finally:
        await conn.close()


async def test_migrate_refuses_a_database_ahead_of_the_code(empty_database: str) -> None:
    conn = await asyncpg.connect(empty_database)
    try:
        await migrate(conn)
        await conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', $1)",
            datetime.now(UTC),
        )
        with pytest.raises(RuntimeError, match="newer than this bounced"):
            await migrate(conn)
    finally:
        await conn.close()


async def test_migration_4_moves_each_kept_payload_once(empty_database: str) -> None:
    """Audit rows recorded before version 4 kept their payload each: the migration keeps one
    notification per distinct payload and points the rows at it."""
    before, (fourth, *_) = known_migrations()[:3], known_migrations()[3:]
    assert fourth.version == 4
    conn = await asyncpg.connect(empty_database)
    try:
        for migration in before:
            await conn.execute(migration.sql)
        insert = (
            "INSERT INTO events (kind, action, address, feedback_id, sns_message_id, queue,"
            " sqs_message_id, occurred_at, recorded_at, payload)"
            " VALUES ('bounce', 'suppress', $1, $2, $3, 'bounce', $4, $5, $5, $6)"
        )
        at = datetime(2026, 3, 1, tzinfo=UTC)
        await conn.execute(insert, "a@example.com", "fb-1", "sns-1", "sqs-1", at, '{"wide":1}')
        await conn.execute(insert, "b@example.com", "fb-1", "sns-1", "sqs-1", at, '{"wide":1}')
        await conn.execute(insert, "c@example.com", "fb-2", None, "sqs-2", at, '{"narrow":2}')
        await conn.execute(insert, "d@example.com", "fb-3", None, "sqs-3", at, None)  # pruned
        await conn.execute(fourth.sql)
        notifications = await conn.fetch(
            "SELECT id, source, payload, time_source, feedback_id FROM notifications ORDER BY feedback_id"
        )
        assert [(n["source"], n["payload"], n["time_source"]) for n in notifications] == [
            ("sns", '{"wide":1}', None),
            ("raw", '{"narrow":2}', None),
        ]
        pointed = await conn.fetch("SELECT address, notification_id FROM events ORDER BY address")
        ids = [n["id"] for n in notifications]
        assert [p["notification_id"] for p in pointed] == [ids[0], ids[0], ids[1], None]
        digest = await conn.fetchval("SELECT digest FROM notifications WHERE id = $1", ids[0])
        assert digest == payload_digest('{"wide":1}')  # the key the store computes
    finally:
        await conn.close()
