"""`bounced migrate`: apply pending schema migrations (safe to run from many places at once)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import asyncpg

from bounced.cli import EXIT_OK
from bounced.cli.common import configured_database_url, fail
from bounced.db.migrate import migrate_database
from bounced.db.url import redact, scrub


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "migrate",
        help="apply pending database migrations",
        description="Apply pending schema migrations under an advisory lock. The database is "
        "BOUNCED_DATABASE_URL, or else libpq's PG* variables.",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Apply migrations; print what was applied."""
    dsn = configured_database_url()
    try:
        applied = asyncio.run(migrate_database(dsn))
    except (OSError, TimeoutError) as error:
        return fail(f"cannot reach the database at {redact(dsn)}: {scrub(str(error), dsn)}")
    except (asyncpg.PostgresError, asyncpg.InterfaceError, RuntimeError) as error:
        return fail(f"migration failed at {redact(dsn)}: {scrub(str(error), dsn)}")
    if applied:
        print(f"applied migrations {', '.join(str(v) for v in applied)}")
    else:
        print("schema is current; nothing to apply")
    return EXIT_OK
