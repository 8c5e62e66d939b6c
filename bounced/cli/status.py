"""`bounced status ADDRESS [--json]`: an address's state and its events, newest first."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bounced.cli import EXIT_NOT_FOUND, EXIT_OK
from bounced.cli.common import iso, print_json, run_with_store
from bounced.cli.output import echo
from bounced.core.model import Status
from bounced.core.sendgate import normalise_address
from bounced.db.store import Store
from bounced.db.views import EventView, RecipientView


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "status",
        help="show an address's state and history",
        description="Show an address's status, why, and its recorded notifications (newest first). "
        "Exit 0 when the address is known, 3 when it is not.",
    )
    parser.add_argument("address", help="the e-mail address (compared case-insensitively)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the address's state; exit 3 when it is unknown (a string that is no address never is
    known: the daemon stores only addresses)."""
    try:
        address = normalise_address(args.address)
    except ValueError as exc:
        print(f"bounced: no record of this address ({exc})", file=sys.stderr)
        return EXIT_NOT_FOUND

    async def show(store: Store) -> int:
        view = await store.recipient(address)
        if view is None:
            print("bounced: no record of this address", file=sys.stderr)
            return EXIT_NOT_FOUND
        if args.json:
            print_json(as_json(view))
        else:
            _print_text(view)
        return EXIT_OK

    return run_with_store(show)


def as_json(view: RecipientView) -> dict[str, Any]:
    """The `bounced status --json` contract (more fields may be added, none removed)."""
    s = view.state
    return {
        "address": s.address,
        "sendable": s.status is Status.ACTIVE,
        "status": s.status.value,
        "reason": s.reason,
        "kind": s.kind,
        "bounce_type": s.bounce_type,
        "bounce_subtype": s.bounce_subtype,
        "complaint_feedback_type": s.complaint_feedback_type,
        "diagnostic_code": s.diagnostic_code,
        "since": iso(s.since),
        "retry_at": iso(s.retry_at) if s.status is Status.DEFERRED else None,
        "soft_bounce_streak": s.soft_bounce_streak,
        "escalated": s.escalated,
        "escalated_after_attempts": s.escalated_after_attempts,
        "last_bounce_at": iso(s.last_bounce_at),
        "last_delivery_at": iso(s.last_delivery_at),
        "event": {
            "id": s.event_id,
            "ses_message_id": s.event_ses_message_id,
            "feedback_id": s.event_feedback_id,
            "occurred_at": iso(s.event_occurred_at),
        },
        "events": [_event_json(e) for e in view.events],
    }


def _event_json(e: EventView) -> dict[str, Any]:
    return {
        "kind": e.kind,
        "action": e.action,
        "reason": e.reason,
        "feedback_id": e.feedback_id,
        "ses_message_id": e.ses_message_id,
        "occurred_at": iso(e.occurred_at),
        "recorded_at": iso(e.recorded_at),
        "bounce_type": e.bounce_type,
        "bounce_subtype": e.bounce_subtype,
        "queue": e.queue,
        "sqs_message_id": e.sqs_message_id,
        "notification_id": e.notification_id,
        "time_source": e.time_source,
        "claimed_time": e.claimed_time,
        "payload_kept": e.payload_kept,
    }


def _print_text(view: RecipientView) -> None:
    s = view.state
    why = " / ".join(x for x in (s.kind, s.bounce_type, s.bounce_subtype) if x)
    sendable = "may be mailed" if s.status is Status.ACTIVE else "may not be mailed"
    echo(f"{s.address}: {s.status.value} since {iso(s.since)} ({sendable})")
    echo(f"  reason: {s.reason or '-'}{f' ({why})' if why else ''}")
    if s.status is Status.DEFERRED:
        echo(f"  retry at: {iso(s.retry_at)} (soft-bounce streak {s.soft_bounce_streak})")
    if s.escalated:
        echo(f"  escalated after {s.escalated_after_attempts} retries")
    echo(f"  events ({len(view.events)}, newest first):")
    for e in view.events:
        ses = e.ses_message_id or "-"
        echo(f"    {iso(e.occurred_at)}  {e.kind:<16} {e.action:<8} {e.reason or '-'}  ses={ses}")
