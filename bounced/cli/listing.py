"""`bounced list --status STATUS [--csv|--json]` and `bounced export` (the suppressions, as CSV).

Both page through the recipients table in address order, so a list of millions streams out in
constant memory. `export` writes CSV for import elsewhere (an ESP's suppression list, a CRM):
address, reason, kind, bounce_type, bounce_subtype, complaint_feedback_type, since, escalated.
A cell that begins with = + - @, a tab or a carriage return is written with a ' in front, so that a
spreadsheet shows it instead of evaluating it (an address such as -x@example.org too).
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from typing import Any

from bounced.cli.admin import positive_int
from bounced.cli.common import EXIT_OK, iso, print_json, run_with_store
from bounced.cli.output import CsvOut, echo
from bounced.core.model import Status
from bounced.db.store import Store
from bounced.db.views import RecipientRow

PAGE = 1000
LIST_COLUMNS = (
    "address",
    "status",
    "reason",
    "kind",
    "bounce_type",
    "bounce_subtype",
    "complaint_feedback_type",
    "since",
    "retry_at",
    "soft_bounce_streak",
)
EXPORT_COLUMNS = (
    "address",
    "reason",
    "kind",
    "bounce_type",
    "bounce_subtype",
    "complaint_feedback_type",
    "since",
    "escalated",
)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `list` and `export`."""
    listing = subparsers.add_parser(
        "list", help="list the addresses in one status", description="List the addresses in one status."
    )
    listing.add_argument("--status", required=True, choices=[s.value for s in Status], help="which status")
    output = listing.add_mutually_exclusive_group()
    output.add_argument("--csv", action="store_true", help="CSV with a header line")
    output.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.add_argument("--limit", type=positive_int, default=None, help="at most this many (default: all)")
    listing.set_defaults(handler=run_list)
    export = subparsers.add_parser(
        "export", help="write the suppressions as CSV, for import elsewhere", description=__doc__
    )
    export.set_defaults(handler=run_export)


async def rows(store: Store, status: Status, limit: int | None = None) -> AsyncIterator[RecipientRow]:
    """Every address in `status`, in address order, a page at a time."""
    after: str | None = None
    left = limit
    while left is None or left > 0:
        size = PAGE if left is None else min(PAGE, left)
        page = await store.recipients_page(status, after, size)
        for row in page:
            yield row
        if len(page) < size:
            return
        after = page[-1].address
        left = None if left is None else left - len(page)


def as_json(row: RecipientRow) -> dict[str, Any]:
    """One line of `bounced list --json`."""
    return {
        "address": row.address,
        "status": row.status,
        "reason": row.reason,
        "kind": row.kind,
        "bounce_type": row.bounce_type,
        "bounce_subtype": row.bounce_subtype,
        "complaint_feedback_type": row.complaint_feedback_type,
        "diagnostic_code": row.diagnostic_code,
        "since": iso(row.since),
        "retry_at": iso(row.retry_at),
        "soft_bounce_streak": row.soft_bounce_streak,
        "escalated": row.escalated,
    }


def _cells(row: RecipientRow, columns: tuple[str, ...]) -> list[object]:
    values = as_json(row)
    return [values[c] for c in columns]


def run_list(args: argparse.Namespace) -> int:
    """Print the addresses in the status asked for."""

    async def show(store: Store) -> int:
        out = CsvOut()
        if args.csv:
            out.row(LIST_COLUMNS)
        async for row in rows(store, Status(args.status), args.limit):
            if args.json:
                print_json(as_json(row))
            elif args.csv:
                out.row(_cells(row, LIST_COLUMNS))
            else:
                echo(*("" if cell is None else cell for cell in _cells(row, LIST_COLUMNS)), sep="\t")
        return EXIT_OK

    return run_with_store(show)


def run_export(args: argparse.Namespace) -> int:
    """Write every suppressed address as CSV."""

    async def export(store: Store) -> int:
        out = CsvOut()
        out.row(EXPORT_COLUMNS)
        async for row in rows(store, Status.SUPPRESSED):
            out.row(_cells(row, EXPORT_COLUMNS))
        return EXIT_OK

    return run_with_store(export)
