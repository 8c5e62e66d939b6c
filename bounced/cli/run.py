"""`bounced run`: the daemon (until signalled), or `--once` to drain every queue and exit."""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

import structlog

from bounced.cli.common import EXIT_PROBLEM, EXIT_USAGE, add_config_option, fail, load
from bounced.service.config import ConfigError, settings_help
from bounced.service.daemon import Daemon, StartupError
from bounced.service.logs import configure_logging

log = structlog.get_logger("bounced.run")


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "run",
        help="consume the SQS queues and keep the recipients' state (the daemon)",
        description="Long-poll every configured SQS queue, apply SES feedback to PostgreSQL, release "
        "due retries, and serve /healthz, /readyz and /metrics. Runs until SIGTERM, SIGINT or SIGHUP, then "
        "drains in-flight batches within the shutdown grace and exits 0.",
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="drain every queue until a long poll comes back empty, then exit 0 "
        "(for cron or a systemd timer)",
    )
    add_config_option(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    settings = load(args)
    configure_logging(settings.log_level, settings.log_format)
    try:
        daemon = Daemon(settings=settings, environ=dict(os.environ), once=args.once)
    except (ConfigError, ValueError) as exc:
        return fail(str(exc), EXIT_USAGE)
    try:
        return asyncio.run(daemon.run())
    except StartupError as exc:
        return fail(str(exc), EXIT_USAGE)
    except Exception:  # a task died: stop loudly (logged with its traceback), let systemd restart us
        log.exception("daemon_failed")
        return EXIT_PROBLEM
