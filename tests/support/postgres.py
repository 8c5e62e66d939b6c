"""A real PostgreSQL for the tests: the server named by BOUNCED_TEST_DSN, or else a throwaway one.

The throwaway comes from the `pgserver` wheel (PostgreSQL 16 inside, part of the test extra), so a
fresh machine with nothing but Python passes the tests. As root, pgserver creates a system user
`pgserver` and opens read permission on the data folder's parents; its data folder is a temporary
directory removed at the end of the run.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from tests.support import testenv

ENV_DSN = "BOUNCED_TEST_DSN"


def with_database(dsn: str, database: str) -> str:
    """The same DSN pointing at another database."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


@contextmanager
def server_dsn() -> Iterator[str]:
    """An admin DSN of a running server for the whole test session."""
    given = testenv.TEST_DSN
    if given:
        yield given
        return
    data_dir = tempfile.mkdtemp(prefix="bounced-test-pg-")
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (as under CI); pgserver copes.
        warnings.simplefilter("ignore")
        import pgserver  # noqa: PLC0415 (imported only when no server is given)

        server = pgserver.get_server(data_dir, cleanup_mode="stop")  # type: ignore[attr-defined]
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(data_dir, ignore_errors=True)


async def create_database(admin_dsn: str, template: str | None = None) -> str:
    """Create an empty database with a unique name; return its DSN."""
    name = f"bounced_test_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        clause = f" TEMPLATE {template}" if template else ""
        await conn.execute(f"CREATE DATABASE {name}{clause}")
    finally:
        await conn.close()
    return with_database(admin_dsn, name)


async def drop_database(admin_dsn: str, dsn: str) -> None:
    """Drop a database made by `create_database`, ending any session still on it."""
    name = urlsplit(dsn).path.lstrip("/")
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()
