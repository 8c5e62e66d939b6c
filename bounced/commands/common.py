"""What the database commands share: opening the store from the environment, refusing a schema
that does not match, reporting errors without secrets, and JSON for dates."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import asyncpg

from bounced.cli import EXIT_PROBLEM
from bounced.dsn import database_url_from_env, redact, scrub
from bounced.migrate import SchemaState
from bounced.policy import DEFAULT_POLICY
from bounced.store import Store


def run_with_store(action: Callable[[Store], Awaitable[int]]) -> int:
    """Open the store named by the environment, check its schema, run `action`, close it.
    Connection and database errors become one line on stderr (password redacted) and exit 1."""
    dsn = database_url_from_env()
    try:
        return asyncio.run(_run(dsn, action))
    except (OSError, TimeoutError) as error:
        return fail(f"cannot reach the database at {redact(dsn)}: {scrub(str(error), dsn)}")
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        return fail(f"database error at {redact(dsn)}: {scrub(str(error), dsn)}")


async def _run(dsn: str | None, action: Callable[[Store], Awaitable[int]]) -> int:
    # The policy only matters when committing; these commands read.
    store = await Store.connect(dsn, policy=DEFAULT_POLICY, min_size=1, max_size=2)
    try:
        status = await store.schema_status()
        if status.state is not SchemaState.CURRENT:
            return fail(status.message())
        return await action(store)
    finally:
        await store.close()


def fail(message: str) -> int:
    """Print `bounced: message` on stderr; return the "problem" exit code."""
    print(f"bounced: {message}", file=sys.stderr)
    return EXIT_PROBLEM


def iso(value: datetime | None) -> str | None:
    """A timestamp as ISO 8601 (UTC as stored), or None."""
    return value.isoformat() if value is not None else None


def print_json(value: dict[str, Any]) -> None:
    """One JSON object on one line."""
    print(json.dumps(value, ensure_ascii=False, sort_keys=False))
