"""`bounced prune [--dry-run] [--json] [--yes]`: apply the retention window now.

Forgets the raw JSON of audit rows and deletes quarantined messages older than
`BOUNCED_RETENTION_DAYS` (default 180), in batches of 1,000 rows, each its own short transaction.
Addresses' states, and the reasons they are suppressed, are never touched. The daemon does the
same every hour; this is for a first clean-up or a changed window. `--dry-run` counts what would go.
Asks first unless `--yes`. Exit 0 done, 1 declined, 2 no terminal to ask on and no --yes.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from bounced.cli import admin
from bounced.cli.common import EXIT_OK, add_config_option, iso, load, print_json, run_with_store
from bounced.db.store import Store
from bounced.service import retention


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `prune`."""
    parser = subparsers.add_parser(
        "prune",
        help="drop raw payloads older than BOUNCED_RETENTION_DAYS",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dry-run", action="store_true", help="count what would go; change nothing")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    admin.add_yes_option(parser)
    add_config_option(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Prune (or count) what is older than the retention window."""
    days = load(args).retention_days
    now = datetime.now(UTC)
    before = retention.cutoff(now, days)
    if not args.dry_run:
        stop = admin.confirm(f"Prune raw payloads recorded before {before:%Y-%m-%d %H:%M} UTC?", yes=args.yes)
        if stop is not None:
            return stop

    async def act(store: Store) -> int:
        if args.dry_run:
            counts = await store.prunable(before)
            payloads, quarantined = counts.payloads, counts.quarantined
        else:
            pruned = await retention.prune(store, now, days)
            payloads, quarantined = pruned.payloads, pruned.quarantined
        line = {
            "dry_run": args.dry_run,
            "retention_days": days,
            "before": iso(before),
            "payloads": payloads,
            "quarantined": quarantined,
        }
        if args.json:
            print_json(line)
        else:
            verb = "would prune" if args.dry_run else "pruned"
            print(f"{verb} {payloads} payload(s) and {quarantined} quarantined message(s)", end="")
            print(f" from before {iso(before)}")
        return EXIT_OK

    return run_with_store(act)
