"""`bounced suppress ADDRESS --reason TEXT` and `bounced unsuppress ADDRESS --reason TEXT`.

A person's override, recorded in the audit log with who (`--actor`, else the OS user) and why.
`suppress` keeps an address from being mailed (an unknown address gets a row: people ask by other
channels too); an address already suppressed keeps its first reason. `unsuppress` makes a
suppressed, deferred or review address active again, resets its soft-bounce streak and cancels its
pending retry; it asks first (`--yes` skips the question). Exit 0 done (or nothing to do), 2 bad
input or no confirmation possible, 3 `unsuppress` of an address bounced has no record of.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from functools import partial
from typing import Any

from bounced.cli import admin
from bounced.cli.common import EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE, fail, print_json, run_with_store
from bounced.cli.output import echo
from bounced.core import manual
from bounced.core.model import Action
from bounced.core.state import RecipientState
from bounced.db.store import Decide, Override, Store


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `suppress` and `unsuppress`."""
    for name, helptext in (
        ("suppress", "stop mailing an address (recorded with who and why)"),
        ("unsuppress", "make an address mailable again (recorded with who and why)"),
    ):
        parser = subparsers.add_parser(name, help=helptext, description=__doc__)
        parser.add_argument("address", help="the e-mail address (compared case-insensitively)")
        admin.add_actor_options(parser, reason_required=True)
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        if name == "unsuppress":
            admin.add_yes_option(parser)
        parser.set_defaults(handler=run_suppress if name == "suppress" else run_unsuppress)


def run_suppress(args: argparse.Namespace) -> int:
    """Suppress the address."""
    return _override(args, Action.SUPPRESS, None)


def run_unsuppress(args: argparse.Namespace) -> int:
    """Lift the address's suppression, after confirmation."""
    return _override(args, Action.CLEAR, "Make {address} mailable again?")


def _override(args: argparse.Namespace, action: Action, question: str | None) -> int:
    address = admin.address(args.address)
    why = admin.reason(args.reason)
    if address is None:
        return EXIT_USAGE
    if why is None:
        return fail("--reason must say why (it goes to the audit log)", EXIT_USAGE)
    if question is not None:
        stop = admin.confirm(question.format(address=address), yes=args.yes)
        if stop is not None:
            return stop
    return apply(address, action, actor=admin.actor(args.actor), note=why, as_json=args.json)


def apply(address: str, action: Action, *, actor: str, note: str, as_json: bool) -> int:
    """Apply a manual SUPPRESS or CLEAR (see `bounced.core.manual`) and report it."""
    now = datetime.now(UTC)
    decide: Decide = (
        partial(manual.suppressed, address=address, now=now)
        if action is Action.SUPPRESS
        else partial(manual.activated, now=now)
    )

    async def act(store: Store) -> int:
        result = await store.override(address, decide, action=action, actor=actor, note=note, now=now)
        if action is Action.CLEAR and result.before is None:
            return fail("no record of this address", EXIT_NOT_FOUND)
        report(address, result, actor=actor, note=note, as_json=as_json)
        return EXIT_OK

    return run_with_store(act)


def report(address: str, result: Override, *, actor: str, note: str, as_json: bool) -> None:
    """Say what changed (or that nothing needed to)."""
    state: RecipientState | None = result.after or result.before
    line = {
        "address": address,
        "changed": result.after is not None,
        "status": state.status.value if state else None,
        "previous_status": result.before.status.value if result.before else None,
        "reason": state.reason if state else None,
        "actor": actor if result.after else None,
        "note": note if result.after else None,
    }
    if as_json:
        print_json(line)
    elif result.after is None:
        echo(f"{address}: already {line['status']}; nothing changed", file=sys.stderr)
    else:
        echo(f"{address}: {line['previous_status'] or 'no record'} -> {line['status']} (by {actor})")
