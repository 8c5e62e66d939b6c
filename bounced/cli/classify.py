"""`bounced classify [FILE ...]`: what would bounced do with this message?

Reads one SQS message body per file (stdin when none is given, or for `-`), runs the daemon's own
reader and classifier (a body without an SNS envelope is read as on a queue listed in
BOUNCED_UNSIGNED_QUEUES), and prints one JSON object per line for each decision. An input it cannot
read, or the recipients of one it cannot read, get one `reject` line with the reason
(`internal_error` and the exception's type when bounced itself failed on it). Exit status: 0 every
input was read, 1 any input (or recipient) was rejected, 2 usage error (a file that cannot be
opened, say).

There is no SQS here, so no SentTimestamp: the time the command runs stands in for it. A time the
message claims is trusted up to five minutes past now, and a message with none is dated now
(`time_source` "received" in the output).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import IO, Any

from bounced.cli import EXIT_OK, EXIT_PROBLEM, EXIT_USAGE
from bounced.cli.output import json_line
from bounced.core.classify import DEFAULT_RULES, Rules, classify
from bounced.core.model import Decision, Notification, ReadError, TimeSource
from bounced.core.timing import Arrival
from bounced.ingest.certificate_fetcher import HttpsCertificateFetcher
from bounced.ingest.reader import (
    INTERNAL_ERROR,
    UNREADABLE_RECIPIENTS,
    Verifier,
    read_message,
    unreadable_detail,
)
from bounced.ingest.signature import CertificateUnavailable, SnsSignatureVerifier

STDIN = "-"

# The order of every output object's fields (`error` only on a reject).
FIELDS = (
    "input",
    "action",
    "address",
    "kind",
    "bounce_type",
    "bounce_subtype",
    "complaint_feedback_type",
    "complaint_subtype",
    "delay_type",
    "reason",
    "feedback_id",
    "ses_message_id",
    "occurred_at",
    "time_source",
    "claimed_time",
)

VerifierFactory = Callable[[bool], Verifier | None]


def https_verifier(verify_signatures: bool) -> Verifier | None:
    """The daemon's own SNS signature check (certificates fetched from AWS over HTTPS), or None."""
    if not verify_signatures:
        return None
    return SnsSignatureVerifier(HttpsCertificateFetcher())


# Tests replace this to inject a certificate fetcher.
verifier_factory: VerifierFactory = https_verifier


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `classify` to the command line."""
    parser = subparsers.add_parser(
        "classify",
        help="read SQS message bodies and print what bounced would decide",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "files", nargs="*", metavar="FILE", help="one SQS message body per file (default: stdin)"
    )
    parser.add_argument(
        "--allow-topic",
        action="append",
        default=[],
        metavar="ARN",
        help="accept SNS envelopes only from this topic (repeatable)",
    )
    parser.add_argument(
        "--no-verify-signatures",
        action="store_true",
        help="do not verify SNS signatures (for messages from local emulators such as moto)",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Run the command for parsed arguments; returns the exit status."""
    try:
        inputs = read_inputs(args.files or [STDIN])
    except OSError as exc:
        print(f"bounced classify: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    verifier = verifier_factory(not args.no_verify_signatures)
    return asyncio.run(run(inputs, verifier=verifier, allowed_topics=frozenset(args.allow_topic)))


def read_inputs(names: Iterable[str]) -> list[tuple[str, bytes]]:
    """(name, body) for each input, all read before any is judged: a typo is a usage error."""
    return [(name, sys.stdin.buffer.read() if name == STDIN else _read_file(name)) for name in names]


def _read_file(name: str) -> bytes:
    with open(name, "rb") as file:
        return file.read()


async def run(
    inputs: Iterable[tuple[str, bytes]],
    *,
    verifier: Verifier | None,
    allowed_topics: frozenset[str] = frozenset(),
    rules: Rules = DEFAULT_RULES,
    out: IO[str] | None = None,
    now: datetime | None = None,
) -> int:
    """Classify every input and print its lines; EXIT_PROBLEM when any input was rejected. `now`
    (default: the wall clock) stands in for the SQS SentTimestamp there is none of."""
    stream = out if out is not None else sys.stdout
    arrival = Arrival(now or datetime.now(UTC), TimeSource.RECEIVED)
    status = EXIT_OK
    for name, body in inputs:
        try:
            # No queue here: a raw body is read as on a queue in BOUNCED_UNSIGNED_QUEUES.
            notification = await read_message(
                body, verifier=verifier, allowed_topics=allowed_topics, arrival=arrival, unsigned_ok=True
            )
        except ReadError as exc:
            status = EXIT_PROBLEM
            _emit(stream, _reject(name, str(exc)))
            continue
        except CertificateUnavailable as exc:
            status = EXIT_PROBLEM
            _emit(stream, _reject(name, f"certificate_unavailable: {exc}"))
            continue
        except Exception as exc:  # a bug: one line, as the daemon quarantines it, not a traceback
            status = EXIT_PROBLEM
            _emit(stream, _reject(name, f"{INTERNAL_ERROR}: {type(exc).__name__}"))
            continue
        for decision in classify(notification, rules):
            _emit(stream, decision_line(name, notification, decision))
        if notification.unreadable_recipients:  # the daemon applies the rest and quarantines these
            status = EXIT_PROBLEM
            _emit(stream, _reject(name, f"{UNREADABLE_RECIPIENTS}: {unreadable_detail(notification)}"))
    return status


def decision_line(name: str, notification: Notification, decision: Decision) -> dict[str, Any]:
    """The output object for one decision."""
    return {
        "input": name,
        "action": decision.action.value,
        "address": decision.address,
        "kind": notification.kind.value,
        "bounce_type": notification.bounce_type,
        "bounce_subtype": notification.bounce_subtype,
        "complaint_feedback_type": notification.complaint_feedback_type,
        "complaint_subtype": notification.complaint_subtype,
        "delay_type": notification.delay_type,
        "reason": decision.reason,
        "feedback_id": notification.feedback_id,
        "ses_message_id": notification.ses_message_id,
        "occurred_at": notification.occurred_at.isoformat(),
        "time_source": notification.time_source.value,
        "claimed_time": notification.claimed_time,
    }


def _reject(name: str, error: str) -> dict[str, Any]:
    return {**dict.fromkeys(FIELDS), "input": name, "action": "reject", "error": error}


def _emit(stream: IO[str], line: dict[str, Any]) -> None:
    stream.write(json_line(line) + "\n")
