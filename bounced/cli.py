"""The `bounced` command line: one subcommand per module in `bounced.commands`.

Exit codes shared by every subcommand: 0 success, 1 the command ran but found a problem (a rejected
input, an unhealthy daemon), 2 a usage or configuration error, 3 "not found" where a command names one.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from bounced import __version__

# Each module exposes `register(subparsers)`, which adds its subcommand(s) and sets `handler`
# (a callable taking the parsed namespace and returning the exit code).
COMMAND_MODULES: tuple[str, ...] = (
    "run",
    "migrate",
    "status",
    "quarantine",
    "retries",
    "classify",
    "check",
    "demo",
    "suppress",
    "listing",
    "review",
    "prune",
    "provision",
)

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="bounced",
        description="Keeps a mailing list healthy from Amazon SES bounce, complaint and delivery "
        "feedback read from SQS, with its state in PostgreSQL.",
    )
    parser.add_argument("--version", action="version", version=f"bounced {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"bounced.commands.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `bounced` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    code: int = handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
