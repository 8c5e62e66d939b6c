"""The `bounced` command line: one subcommand per module in `bounced.cli`.

Exit codes shared by every subcommand: 0 success, 1 the command ran but found a problem (a rejected
input, an unhealthy daemon), 2 a usage or configuration error, 3 "not found" where a command names one.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from bounced import __version__
from bounced.service import signals

# Each module exposes `register(subparsers)`, which adds its subcommand(s) and sets `handler`
# (a callable taking the parsed namespace and returning the exit code). Keyed by the commands each
# module registers, so that running one command imports only its module: `bounced check` (Docker's
# HEALTHCHECK, every few seconds) must not pay for aiobotocore and asyncpg.
COMMANDS: dict[str, str] = {
    "run": "run",
    "migrate": "migrate",
    "status": "status",
    "quarantine": "quarantine",
    "retries": "retries",
    "classify": "classify",
    "check": "check",
    "demo": "demo",
    "suppress": "suppress",
    "unsuppress": "suppress",
    "list": "listing",
    "export": "listing",
    "review": "review",
    "prune": "prune",
    "provision": "provision",
    "ses": "ses",
}
COMMAND_MODULES: tuple[str, ...] = tuple(dict.fromkeys(COMMANDS.values()))

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3


def build_parser(modules: Sequence[str] = COMMAND_MODULES) -> argparse.ArgumentParser:
    """The argument parser with the subcommands of `modules` (by default all of them)."""
    parser = argparse.ArgumentParser(
        prog="bounced",
        description="Keeps a mailing list healthy from Amazon SES bounce, complaint and delivery "
        "feedback read from SQS, with its state in PostgreSQL.",
    )
    parser.add_argument("--version", action="version", version=f"bounced {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in modules:
        module = importlib.import_module(f"bounced.cli.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `bounced` console script."""
    words = list(sys.argv[1:] if argv is None else argv)
    module = COMMANDS.get(words[0]) if words else None
    if module == "run" and argv is None:
        signals.hold()  # a stop during start-up is a clean stop (bounced/service/signals.py)
    parser = build_parser([module] if module else COMMAND_MODULES)
    args = parser.parse_args(words)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    code: int = handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
