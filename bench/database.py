"""PostgreSQL for the benchmark: BOUNCED_BENCH_DSN, else BOUNCED_TEST_DSN, else a throwaway pgserver
(as the tests do: see tests/support/postgres.py, including what pgserver does when run as root)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

from tests.support import postgres

ENV_DSN = "BOUNCED_BENCH_DSN"
DURABILITY_SETTINGS = ("fsync", "synchronous_commit", "full_page_writes", "server_version")


@contextmanager
def admin_dsn() -> Iterator[str]:
    """An admin DSN of a running server for the whole benchmark."""
    given = os.environ.get(ENV_DSN)
    if given:
        yield given
        return
    with postgres.server_dsn() as dsn:
        yield dsn


def fresh(admin: str) -> str:
    """A new empty database; its DSN."""
    return asyncio.run(postgres.create_database(admin))


def drop(admin: str, dsn: str) -> None:
    """Drop a database made by `fresh`."""
    asyncio.run(postgres.drop_database(admin, dsn))


def durability(dsn: str) -> dict[str, str]:
    """The settings that decide whether a commit reached the disk (fsync, synchronous_commit, ...)."""

    async def read() -> dict[str, str]:
        conn = await asyncpg.connect(dsn)
        try:
            return {name: str(await conn.fetchval(f"SHOW {name}")) for name in DURABILITY_SETTINGS}
        finally:
            await conn.close()

    return asyncio.run(read())
