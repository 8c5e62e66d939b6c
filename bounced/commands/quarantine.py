"""`bounced quarantine list [--json]`: messages that could not be read, kept with their bytes."""

from __future__ import annotations

import argparse
from typing import Any

from bounced.cli import EXIT_OK
from bounced.commands.common import iso, print_json, run_with_store
from bounced.store import Store
from bounced.views import QuarantineView


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser("quarantine", help="inspect quarantined messages")
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list quarantined messages, oldest first")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.add_argument("--limit", type=int, default=1000, help="at most this many (default 1000)")
    listing.set_defaults(handler=run_list)


def run_list(args: argparse.Namespace) -> int:
    """Print the quarantine, one message per line."""

    async def show(store: Store) -> int:
        for item in await store.quarantine_list(args.limit):
            if args.json:
                print_json(as_json(item))
            else:
                fields = (item.id, iso(item.received_at), item.queue, item.sqs_message_id)
                print(*fields, f"{item.code}: {item.detail}", sep="\t")
        return EXIT_OK

    return run_with_store(show)


def as_json(item: QuarantineView) -> dict[str, Any]:
    """One line of `bounced quarantine list --json`."""
    return {
        "id": item.id,
        "queue": item.queue,
        "sqs_message_id": item.sqs_message_id,
        "reason": item.code,
        "detail": item.detail,
        "receive_count": item.receive_count,
        "received_at": iso(item.received_at),
        "replayed_at": iso(item.replayed_at),
    }
