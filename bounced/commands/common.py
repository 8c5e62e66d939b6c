"""What the subcommands share: the `--config` option, loading settings, and one-line errors."""

from __future__ import annotations

import argparse
import os
import sys

from bounced.config import ConfigError, Settings, load_settings

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """`--config PATH`: a TOML file (else $BOUNCED_CONFIG); the environment wins over it."""
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="TOML settings file (default: $BOUNCED_CONFIG); environment variables win over it",
    )


def fail(message: str, code: int = EXIT_USAGE) -> int:
    """Print one line on stderr and return `code`."""
    print(f"bounced: {message}", file=sys.stderr)
    return code


def load(args: argparse.Namespace) -> Settings:
    """The settings for a command, or SystemExit(2) with one line naming the bad setting."""
    try:
        return load_settings(os.environ, getattr(args, "config", None))
    except ConfigError as exc:
        raise SystemExit(fail(str(exc))) from None
