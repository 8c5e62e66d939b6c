"""What the deploy artifacts may rely on: settings the daemon accepts and subcommands that exist."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bounced.cli import build_parser
from bounced.service.config import CONFIG_ENV, SETTINGS_BY_ENV

# The settings the configuration accepts. The lead will replace this with the real settings registry.
# The settings bounced accepts, from the one registry the loader uses.
BOUNCED_SETTINGS = frozenset({*SETTINGS_BY_ENV, CONFIG_ENV})
# Read by the AWS SDK and libpq themselves.
SDK_SETTINGS = frozenset(
    {
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_SQS",
        "AWS_ENDPOINT_URL_SNS",
        "AWS_ENDPOINT_URL_SESV2",
        "PGHOST",
        "PGPORT",
        "PGDATABASE",
        "PGUSER",
        "PGPASSWORD",
        "PGSSLMODE",
    }
)
ACCEPTED_SETTINGS = BOUNCED_SETTINGS | SDK_SETTINGS

# Subcommands the artifacts use that other work registers; checked once they are in the parser.
PENDING_COMMANDS: frozenset[str] = frozenset()


def registered_commands() -> set[str]:
    """Names of the subcommands `bounced` has now."""
    parser = build_parser()
    subparsers = parser._subparsers  # argparse keeps no public list of subcommands
    assert subparsers is not None
    names: set[str] = set()
    for action in subparsers._group_actions:
        names.update(getattr(action, "choices", None) or {})
    return names


def assert_commands_exist(argvs: Iterable[Sequence[str]]) -> None:
    """Every argv (after `bounced`) names a subcommand that exists or is pending, and every
    registered one parses with its options."""
    registered = registered_commands()
    for argv in argvs:
        command = argv[0]
        assert command in registered | PENDING_COMMANDS, f"bounced has no subcommand {command!r}"
        if command in registered:
            build_parser().parse_args(list(argv))  # exits (SystemExit) on an unknown option
