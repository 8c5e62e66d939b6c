"""Hold a PostgreSQL table lock from the test, so the daemon's commit provably waits mid-transaction."""

from __future__ import annotations

from typing import Any

import asyncpg

from bounced.db.queries import sql

# Sessions of this database whose batch commit waits to lock the addresses' rows: the commit is in
# flight, not committed. It waits in `write_batch` (the one statement that writes a batch: nothing
# is written until it has the locks). The scheduler's release query waits on the same table; it
# is not a batch. pg_locks spans
# the cluster, and every migrated test database gives `recipients` the same oid: hence the
# database filter. pg_stat_activity keeps only the first track_activity_query_size bytes of a
# query (1 kB by default, shorter than `write_batch`): hence the prefix match.
_COMMITS_WAITING = """
SELECT count(*) FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid
WHERE NOT l.granted AND a.datname = current_database() AND a.query <> ''
    AND EXISTS (SELECT 1 FROM unnest($1::text[]) AS s(statement) WHERE starts_with(s.statement, a.query))
"""


async def commits_waiting(dsn: str) -> int:
    """How many of the daemon's batch commits wait for the `recipients` lock right now."""
    conn = await asyncpg.connect(dsn)
    try:
        statements = [sql("write_batch")]
        return int(await conn.fetchval(_COMMITS_WAITING, statements))
    finally:
        await conn.close()


class TableLock:
    """`LOCK TABLE ... IN EXCLUSIVE MODE` in an open transaction: reads pass, writes wait."""

    def __init__(self, conn: Any, transaction: Any) -> None:
        self._conn = conn
        self._transaction = transaction

    @classmethod
    async def take(cls, dsn: str, table: str = "recipients") -> TableLock:
        conn = await asyncpg.connect(dsn)
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")  # a fixed name from the test
        return cls(conn, transaction)

    async def release(self) -> None:
        if self._conn.is_closed():
            return
        await self._transaction.rollback()
        await self._conn.close()
