"""`bounced quarantine list|show|replay|discard`: messages that could not be read, kept with their bytes.

- `list [--json]`: one line per message not discarded, oldest first.
- `show ID [--json]`: the message with its raw bytes, shown safely: as text when they are UTF-8
  (control characters escaped, so a hostile body cannot drive the terminal), else as base64.
- `replay ID | --all [--json]`: run the stored bytes through the daemon's reader and classifier
  again (settings as for `bounced run`: signature checks, topic allow-list, rules, retry windows)
  and commit the result. A message that still cannot be read stays, with the new reason. One with
  unreadable recipients has the others applied and stays, with them named (`partial`, not a failure).
- `discard ID [--yes]`: set a message aside for good (asks first).

Exit 0 done, 1 a replay failed (or a confirmation was declined), 2 bad input, 3 no such id.
"""

from __future__ import annotations

import argparse
import base64
import sys
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from bounced.cli import admin
from bounced.cli import classify as classify_command
from bounced.cli.common import (
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_PROBLEM,
    EXIT_USAGE,
    add_config_option,
    fail,
    iso,
    load,
    print_json,
    run_with_store,
)
from bounced.cli.output import echo
from bounced.core.classify import Rules
from bounced.db.store import Store
from bounced.db.views import QuarantinedMessage, QuarantineView
from bounced.ingest.reader import MessageReader
from bounced.service import replay as replaying
from bounced.service.config import ConfigError, Settings
from bounced.service.daemon import retry_policy


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `quarantine` and its actions."""
    parser = subparsers.add_parser(
        "quarantine",
        help="inspect, replay or discard quarantined messages",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list quarantined messages, oldest first")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.add_argument(
        "--limit", type=admin.positive_int, default=1000, help="at most this many (default 1000)"
    )
    listing.set_defaults(handler=run_list)
    show = actions.add_parser("show", help="show one quarantined message with its raw bytes")
    show.add_argument("id", type=admin.positive_int, help="the quarantine id (from `quarantine list`)")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(handler=run_show)
    _register_replay(actions)
    discard = actions.add_parser("discard", help="set a quarantined message aside for good")
    discard.add_argument("id", type=admin.positive_int, help="the quarantine id")
    discard.add_argument("--json", action="store_true", help="print one JSON object")
    admin.add_yes_option(discard)
    discard.set_defaults(handler=run_discard)


def _register_replay(actions: argparse._SubParsersAction[Any]) -> None:
    replay = actions.add_parser("replay", help="run quarantined messages through the pipeline again")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("id", nargs="?", type=admin.positive_int, help="the quarantine id")
    which.add_argument("--all", action="store_true", help="every message neither replayed nor discarded")
    replay.add_argument("--json", action="store_true", help="one JSON object per message")
    add_config_option(replay)
    replay.set_defaults(handler=run_replay)


def run_list(args: argparse.Namespace) -> int:
    """Print the quarantine, one message per line."""

    async def show(store: Store) -> int:
        for item in await store.quarantine_list(args.limit):
            if args.json:
                print_json(as_json(item))
            else:
                fields = (item.id, iso(item.received_at), item.queue, item.sqs_message_id)
                echo(*fields, f"{item.code}: {item.detail}", sep="\t")
        return EXIT_OK

    return run_with_store(show)


def as_json(item: QuarantineView | QuarantinedMessage) -> dict[str, Any]:
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


def body_text(body: bytes) -> tuple[str, str]:
    """(encoding, text): ("utf-8", the text) when the bytes decode, else ("base64", base64)."""
    try:
        return "utf-8", body.decode("utf-8")
    except UnicodeDecodeError:
        return "base64", base64.b64encode(body).decode("ascii")


def shown_json(item: QuarantinedMessage) -> dict[str, Any]:
    """`bounced quarantine show --json`."""
    encoding, text = body_text(item.body)
    return {
        **as_json(item),
        "discarded_at": iso(item.discarded_at),
        "body_encoding": encoding,
        "body": text,
    }


def run_show(args: argparse.Namespace) -> int:
    """Print one quarantined message."""

    async def show(store: Store) -> int:
        item = await store.quarantined(args.id)
        if item is None:
            return fail(f"no quarantined message {args.id}", EXIT_NOT_FOUND)
        shown = shown_json(item)
        if args.json:
            print_json(shown)
            return EXIT_OK
        for key, value in shown.items():
            if key not in ("body", "body_encoding"):
                echo(f"{key}: {'-' if value is None else value}")
        echo(f"body ({shown['body_encoding']}, {len(item.body)} bytes):")
        echo(shown["body"], multiline=True)
        return EXIT_OK

    return run_with_store(show)


def reader_for(settings: Settings) -> MessageReader:
    """The daemon's reader, as `bounced run` would build it from the same settings."""
    rules = Rules.from_mapping(settings.rules)
    if settings.escalate_nonexistent:
        rules = replace(rules, escalate_nonexistent=True)
    return MessageReader(
        verifier=classify_command.verifier_factory(settings.verify_signatures),
        allowed_topics=settings.allowed_topic_arns,
        unsigned_queues=settings.unsigned_queues,
        allowed_accounts=settings.allowed_accounts,
        rules=rules,
        max_receive_count=settings.max_receive_count,
    )


def run_replay(args: argparse.Namespace) -> int:
    """Replay one message or all of them; exit 1 when any did not go through."""
    settings = load(args)
    try:
        reader, policy = reader_for(settings), retry_policy(settings.retry)
    except (ConfigError, ValueError) as exc:
        return fail(str(exc), EXIT_USAGE)
    now = datetime.now(UTC)

    async def act(store: Store) -> int:
        ids = await store.replayable_quarantine() if args.all else [args.id]
        results = await replaying.replay(store, reader, ids, now)
        for item in results:
            _report_replay(item, as_json=args.json)
        if not args.all and results[0].result is replaying.Result.NOT_FOUND:
            return EXIT_NOT_FOUND
        return EXIT_PROBLEM if any(r.result.failed for r in results) else EXIT_OK

    return run_with_store(act, policy)


def _report_replay(item: replaying.Replay, *, as_json: bool) -> None:
    line = {
        "id": item.id,
        "result": item.result.value,
        "reason": item.code,
        "detail": item.detail,
        "decisions": item.decisions,
    }
    if as_json:
        print_json(line)
        return
    why = f": {item.code or ''} {item.detail or ''}".rstrip() if item.code or item.detail else ""
    stream = sys.stderr if item.result.failed else sys.stdout
    echo(f"{item.id}: {item.result.value}{why}", file=stream)


def run_discard(args: argparse.Namespace) -> int:
    """Discard one quarantined message, after confirmation."""
    stop = admin.confirm(f"Discard quarantined message {args.id}?", yes=args.yes)
    if stop is not None:
        return stop

    async def act(store: Store) -> int:
        if await store.quarantined(args.id) is None:
            return fail(f"no quarantined message {args.id}", EXIT_NOT_FOUND)
        changed = await store.discard_quarantined(args.id, datetime.now(UTC))
        if args.json:
            print_json({"id": args.id, "discarded": True, "changed": changed})
        else:
            print(f"{args.id}: {'discarded' if changed else 'already discarded'}")
        return EXIT_OK

    return run_with_store(act)
