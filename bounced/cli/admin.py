"""What the admin commands share: who is acting, confirming destructive steps, reading addresses.

Destructive commands ask before acting. `--yes` skips the question; without a terminal to ask on
and without `--yes`, they refuse (exit 2) rather than guess.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import IO

from bounced.cli.common import EXIT_PROBLEM, EXIT_USAGE, fail
from bounced.core.addresses import normalise_address
from bounced.core.model import ReadError

UNKNOWN_ACTOR = "unknown"


def add_yes_option(parser: argparse.ArgumentParser) -> None:
    """`--yes`: do it without asking."""
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")


def add_actor_options(parser: argparse.ArgumentParser, *, reason_required: bool) -> None:
    """`--reason TEXT` (why, for the audit log) and `--actor NAME` (who; default: the OS user)."""
    parser.add_argument(
        "--reason", required=reason_required, metavar="TEXT", help="why, recorded in the audit log"
    )
    parser.add_argument(
        "--actor", metavar="NAME", help="who is acting, recorded in the audit log (default: the OS user)"
    )


def actor(given: str | None) -> str:
    """`--actor` when given, else the OS user name."""
    if given and given.strip():
        return given.strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in some containers (which one depends on the version)
        return UNKNOWN_ACTOR


def reason(given: str | None, default: str | None = None) -> str | None:
    """The stripped `--reason`, or `default`; None when it is blank and there is no default."""
    text = (given or "").strip()
    return text or default


def address(raw: str) -> str | None:
    """The address as bounced stores it (the parser's own normalisation, so `Name <addr>` works
    too), or None after saying on stderr that it is not one."""
    try:
        return normalise_address(raw.strip())
    except ReadError as exc:
        fail(f"{raw[:100]!r} is not an e-mail address ({exc.detail})", EXIT_USAGE)
        return None


def confirm(question: str, *, yes: bool, stdin: IO[str] | None = None) -> int | None:
    """None to go ahead; else the exit code to stop with (2: cannot ask, 1: the answer was no)."""
    if yes:
        return None
    source = stdin if stdin is not None else sys.stdin
    if not source.isatty():
        return fail("refusing without --yes: no terminal to ask for confirmation", EXIT_USAGE)
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    answer = source.readline().strip().lower()
    if answer in ("y", "yes"):
        return None
    return fail("not confirmed; nothing changed", EXIT_PROBLEM)


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value
