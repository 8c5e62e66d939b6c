"""Schema migrations: numbered `.sql` files in `bounced/db/sql/migrations`, applied in order under an
advisory lock and recorded in `schema_migrations`, each in its own transaction."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from importlib import resources
from typing import TYPE_CHECKING, TypeAlias

import asyncpg

from bounced.db.queries import sql

if TYPE_CHECKING:  # the driver's classes are generic in its stubs only
    from asyncpg.pool import PoolConnectionProxy

    AnyConnection: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
    """A connection of its own, or one of a pool."""

# "bounced" in ASCII: the key of the session advisory lock that serialises concurrent migrate runs.
MIGRATION_LOCK_KEY = 0x626F756E636564
_FILE = re.compile(r"(\d{4})_(\w+)\.sql")


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered migration file."""

    version: int
    name: str
    sql: str


def known_migrations() -> tuple[Migration, ...]:
    """The migrations this code ships, ascending by version."""
    found = []
    for entry in resources.files("bounced.db.sql.migrations").iterdir():
        match = _FILE.fullmatch(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a version: {versions}")
    return tuple(found)


class SchemaState(StrEnum):
    """How the database's schema compares with the code's."""

    CURRENT = "current"
    BEHIND = "behind"  # migrations to apply: run `bounced migrate`
    AHEAD = "ahead"  # the database has migrations this code does not know: upgrade bounced


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """The database's applied migration versions against the code's."""

    applied: tuple[int, ...]
    known: tuple[int, ...]

    @property
    def pending(self) -> tuple[int, ...]:
        """Versions the code has and the database lacks."""
        return tuple(v for v in self.known if v not in self.applied)

    @property
    def unknown(self) -> tuple[int, ...]:
        """Versions the database has and the code does not know."""
        return tuple(v for v in self.applied if v not in self.known)

    @property
    def state(self) -> SchemaState:
        """Ahead wins over behind: a newer schema is never safe to run against."""
        if self.unknown:
            return SchemaState.AHEAD
        return SchemaState.BEHIND if self.pending else SchemaState.CURRENT

    @property
    def database_version(self) -> int:
        """The highest applied version (0 for an empty database)."""
        return max(self.applied, default=0)

    @property
    def code_version(self) -> int:
        """The highest version this code ships."""
        return max(self.known, default=0)

    def message(self) -> str:
        """One line for an operator: what is wrong and which command to run."""
        db, code = self.database_version, self.code_version
        if self.state is SchemaState.AHEAD:
            return (
                f"the database schema (version {db}) is newer than this bounced (version {code}): "
                "run a bounced that knows it"
            )
        if self.state is SchemaState.BEHIND:
            return (
                f"the database schema (version {db}) is behind this bounced (version {code}): "
                "run `bounced migrate`"
            )
        return f"the database schema is current (version {db})"


async def applied_versions(conn: AnyConnection) -> tuple[int, ...]:
    """Versions recorded in schema_migrations (none when the table does not exist)."""
    if not await conn.fetchval(sql("schema_migrations_exists")):
        return ()
    return tuple(row["version"] for row in await conn.fetch(sql("applied_migrations")))


async def schema_status(conn: AnyConnection) -> SchemaStatus:
    """How the database's schema compares with this code's migrations."""
    known = tuple(m.version for m in known_migrations())
    return SchemaStatus(applied=await applied_versions(conn), known=known)


async def migrate_database(dsn: str | None) -> tuple[int, ...]:
    """Connect to `dsn` (None: libpq's PG* variables), apply pending migrations, disconnect."""
    conn = await asyncpg.connect(dsn)
    try:
        return await migrate(conn)
    finally:
        await conn.close()


async def migrate(conn: AnyConnection) -> tuple[int, ...]:
    """Apply pending migrations; return the versions applied by this call. Concurrent callers wait
    for one another on an advisory lock, so each migration runs once. Refuses a database that is
    ahead of the code."""
    await conn.fetchval(sql("lock_migrations"), MIGRATION_LOCK_KEY)
    try:
        await conn.execute(sql("create_schema_migrations"))
        status = await schema_status(conn)
        if status.state is SchemaState.AHEAD:
            raise RuntimeError(status.message())
        done = []
        for migration in known_migrations():
            if migration.version in status.applied:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    sql("record_migration"), migration.version, migration.name, datetime.now(UTC)
                )
            done.append(migration.version)
        return tuple(done)
    finally:
        await conn.fetchval(sql("unlock_migrations"), MIGRATION_LOCK_KEY)
