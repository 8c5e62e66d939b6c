"""What the subcommands share: the `--config` option, loading settings, opening the store from the
environment (refusing a schema that does not match), one-line errors without secrets, JSON output."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import asyncpg

from bounced.cli.output import json_line, terminal_safe
from bounced.core.policy import DEFAULT_POLICY, RetryPolicy
from bounced.db.migrate import SchemaState
from bounced.db.store import Store
from bounced.db.url import redact, scrub
from bounced.service.config import ConfigError, Settings, load_settings

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """`--config PATH`: a TOML file (else $BOUNCED_CONFIG); the environment wins over it."""
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="TOML settings file (default: $BOUNCED_CONFIG); environment variables win over it",
    )


def fail(message: str, code: int = EXIT_PROBLEM) -> int:
    """Print `bounced: message` on stderr and return `code` (default: the "problem" exit code)."""
    print(f"bounced: {terminal_safe(message)}", file=sys.stderr)
    return code


def configured_database_url() -> str | None:
    """BOUNCED_DATABASE_URL from the environment or $BOUNCED_CONFIG (None: libpq's PG* variables);
    SystemExit(2) with one line when the settings are invalid."""
    return load(argparse.Namespace()).database_url


def load(args: argparse.Namespace) -> Settings:
    """The settings for a command, or SystemExit(2) with one line naming the bad setting."""
    try:
        return load_settings(os.environ, getattr(args, "config", None))
    except ConfigError as exc:
        raise SystemExit(fail(str(exc), EXIT_USAGE)) from None


def run_with_store(action: Callable[[Store], Awaitable[int]], policy: RetryPolicy = DEFAULT_POLICY) -> int:
    """Open the store named by the environment, check its schema, run `action`, close it.
    Connection and database errors become one line on stderr (password redacted) and exit 1.
    `policy` matters only to commands that commit (quarantine replay): pass the configured one.
    With `BOUNCED_SES_SUPPRESSION=push`, the changes a command writes queue their calls to SES's
    suppression list, as the daemon's do."""
    settings = load(argparse.Namespace())
    dsn = settings.database_url
    try:
        return asyncio.run(_run(dsn, action, policy, ses_push=settings.pushes_to_ses()))
    except (OSError, TimeoutError) as error:
        return fail(f"cannot reach the database at {redact(dsn)}: {scrub(str(error), dsn)}")
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        return fail(f"database error at {redact(dsn)}: {scrub(str(error), dsn)}")


async def _run(
    dsn: str | None, action: Callable[[Store], Awaitable[int]], policy: RetryPolicy, *, ses_push: bool
) -> int:
    store = await Store.connect(dsn, policy=policy, min_size=1, max_size=2, ses_push=ses_push)
    try:
        status = await store.schema_status()
        if status.state is not SchemaState.CURRENT:
            return fail(status.message())
        return await action(store)
    finally:
        await store.close()


def iso(value: datetime | None) -> str | None:
    """A timestamp as ISO 8601 (UTC as stored), or None."""
    return value.isoformat() if value is not None else None


def print_json(value: dict[str, Any]) -> None:
    """One JSON object on one line (see `json_line`: nothing in it drives a terminal)."""
    print(json_line(value))
