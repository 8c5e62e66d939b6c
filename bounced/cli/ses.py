"""`bounced ses import`: record every address on SES's account-level suppression list as suppressed.

Reads the whole list (ListSuppressedDestinations, page after page) and suppresses each address bounced
does not already hold as suppressed, with an audit row of kind `ses_suppression_list` and the reason
SES gives (bounce or complaint). Running it again adds nothing. Nothing is pushed back to SES: these
addresses came from its list. SES is found through the AWS SDK's own settings (AWS_REGION,
AWS_ENDPOINT_URL_SESV2 or AWS_ENDPOINT_URL, the credential chain). Exit 0 done, 1 SES or the
database failed (what was recorded before stays recorded; running it again finishes the job).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bounced.cli import admin
from bounced.cli.common import EXIT_OK, EXIT_PROBLEM, add_config_option, fail, print_json, run_with_store
from bounced.cli.output import echo
from bounced.core import seslist
from bounced.core.addresses import normalise_address
from bounced.core.model import Action, ReadError
from bounced.db.store import Store
from bounced.ingest.sesv2 import ListedAddress, SuppressionList, suppression_list
from bounced.ingest.sqs import describe_failure


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `ses` and its subcommand `import`."""
    parser = subparsers.add_parser(
        "ses",
        help="SES's account-level suppression list",
        description="SES's account-level suppression list.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    importer = commands.add_parser(
        "import",
        help="suppress every address on SES's suppression list (idempotent)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    importer.add_argument(
        "--actor", metavar="NAME", help="who is importing, recorded in the audit log (default: the OS user)"
    )
    importer.add_argument("--json", action="store_true", help="print one JSON object")
    add_config_option(importer)
    importer.set_defaults(handler=run_import)
    parser.set_defaults(handler=lambda _args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_usage()
    return fail("name a command: import", 2)


@dataclass
class ImportCount:
    """What an import did."""

    read: int = 0
    suppressed: int = 0
    already_suppressed: int = 0
    skipped: int = 0  # not an address bounced can store


def run_import(args: argparse.Namespace) -> int:
    """Read SES's list and record it."""
    actor = admin.actor(args.actor)
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None

    async def act(store: Store) -> int:
        count = ImportCount()
        try:
            async with suppression_list(region) as ses:
                await import_list(ses, store, count, actor=actor, now=datetime.now(UTC))
        except (ClientError, BotoCoreError) as exc:
            _report(count, as_json=args.json)
            return fail(f"SES's suppression list could not be read ({describe_failure(exc)})", EXIT_PROBLEM)
        _report(count, as_json=args.json)
        return EXIT_OK

    return run_with_store(act)


async def import_list(
    ses: SuppressionList, store: Store, count: ImportCount, *, actor: str, now: datetime
) -> None:
    """Suppress every address on `ses`'s list that is not suppressed yet, counting in `count`."""
    async for entry in ses.entries():
        count.read += 1
        address = _address(entry)
        if address is None:
            count.skipped += 1
            continue
        result = await store.override(
            address,
            partial(seslist.imported, address=address, ses_reason=entry.reason, now=now),
            action=Action.SUPPRESS,
            actor=actor,
            note=f"on SES's account-level suppression list ({entry.reason})",
            now=now,
            kind=seslist.SES_LIST_KIND,
        )
        if result.after is None:
            count.already_suppressed += 1
        else:
            count.suppressed += 1


def _address(entry: ListedAddress) -> str | None:
    try:
        return normalise_address(entry.address)
    except ReadError:
        return None


def _report(count: ImportCount, *, as_json: bool) -> None:
    if as_json:
        print_json(asdict(count))
        return
    echo(
        f"read {count.read} addresses from SES's suppression list: {count.suppressed} newly suppressed,"
        f" {count.already_suppressed} already suppressed, {count.skipped} skipped (not addresses)"
    )
