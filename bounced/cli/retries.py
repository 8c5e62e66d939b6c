"""`bounced retries list [--due] [--json]`: pending retries, soonest first."""

from __future__ import annotations

import argparse
from typing import Any

from bounced.cli import EXIT_OK
from bounced.cli.common import iso, print_json, run_with_store
from bounced.cli.output import echo
from bounced.core.clock import SystemClock
from bounced.db.store import Store
from bounced.db.views import RetryView


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser("retries", help="inspect scheduled retries")
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list pending retries, soonest first")
    listing.add_argument("--due", action="store_true", help="only those due now")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.add_argument("--limit", type=int, default=1000, help="at most this many (default 1000)")
    listing.set_defaults(handler=run_list)


def run_list(args: argparse.Namespace) -> int:
    """Print pending retries, one per line."""
    due_before = SystemClock().now() if args.due else None

    async def show(store: Store) -> int:
        for retry in await store.pending_retries(due_before, args.limit):
            if args.json:
                print_json(as_json(retry))
            else:
                echo(iso(retry.due_at), retry.address, retry.cause, f"attempt {retry.attempt}", sep="\t")
        return EXIT_OK

    return run_with_store(show)


def as_json(retry: RetryView) -> dict[str, Any]:
    """One line of `bounced retries list --json`."""
    return {
        "id": retry.id,
        "address": retry.address,
        "ses_message_id": retry.ses_message_id,
        "cause": retry.cause,
        "attempt": retry.attempt,
        "due_at": iso(retry.due_at),
        "created_at": iso(retry.created_at),
    }
