"""`bounced review list` and `bounced review resolve ADDRESS --action suppress|clear`.

Review holds addresses whose feedback says the message, not the address, may be at fault (too
large, content or attachment rejected, undetermined): a person decides. `resolve` records the
decision in the audit log with who (`--actor`, else the OS user) and why (`--reason`, optional
here). Exit 0 done, 1 the address is not in review, 2 bad input, 3 no record of the address.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from functools import partial
from typing import Any

from bounced.cli import admin
from bounced.cli.common import (
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_PROBLEM,
    EXIT_USAGE,
    fail,
    iso,
    print_json,
    run_with_store,
)
from bounced.cli.listing import as_json, rows
from bounced.cli.output import echo
from bounced.cli.suppress import report
from bounced.core import manual
from bounced.core.model import Action, Status
from bounced.core.state import RecipientState
from bounced.db.store import Store

DEFAULT_NOTE = "review resolved"
ACTIONS = {"suppress": Action.SUPPRESS, "clear": Action.CLEAR}


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `review list` and `review resolve`."""
    parser = subparsers.add_parser("review", help="the addresses waiting for a person", description=__doc__)
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list the addresses in review, in address order")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(handler=run_list)
    resolve = actions.add_parser("resolve", help="suppress or clear an address in review")
    resolve.add_argument("address", help="the e-mail address")
    resolve.add_argument("--action", required=True, choices=sorted(ACTIONS), help="what to do with it")
    admin.add_actor_options(resolve, reason_required=False)
    resolve.add_argument("--json", action="store_true", help="print one JSON object")
    resolve.set_defaults(handler=run_resolve)


def run_list(args: argparse.Namespace) -> int:
    """Print the review queue."""

    async def show(store: Store) -> int:
        async for row in rows(store, Status.REVIEW):
            if args.json:
                print_json(as_json(row))
            else:
                why = " / ".join(x for x in (row.kind, row.bounce_type, row.bounce_subtype) if x)
                echo(row.address, row.reason or "-", why or "-", iso(row.since), sep="\t")
        return EXIT_OK

    return run_with_store(show)


def only_in_review(
    decide: partial[RecipientState | None], current: RecipientState | None
) -> RecipientState | None:
    """`decide`, but only for an address in review: anything else is left as it is."""
    if current is None or current.status is not Status.REVIEW:
        return None
    return decide(current)


def run_resolve(args: argparse.Namespace) -> int:
    """Suppress or clear an address in review."""
    address = admin.address(args.address)
    if address is None:
        return EXIT_USAGE
    action = ACTIONS[args.action]
    now = datetime.now(UTC)
    change = (
        partial(manual.suppressed, address=address, now=now)
        if action is Action.SUPPRESS
        else partial(manual.activated, now=now)
    )
    actor = admin.actor(args.actor)
    note = admin.reason(args.reason, DEFAULT_NOTE) or DEFAULT_NOTE

    async def act(store: Store) -> int:
        result = await store.override(
            address, partial(only_in_review, change), action=action, actor=actor, note=note, now=now
        )
        if result.before is None:
            return fail("no record of this address", EXIT_NOT_FOUND)
        if result.after is None:
            return fail(f"not in review (it is {result.before.status.value}); nothing changed", EXIT_PROBLEM)
        report(address, result, actor=actor, note=note, as_json=args.json)
        return EXIT_OK

    return run_with_store(act)
