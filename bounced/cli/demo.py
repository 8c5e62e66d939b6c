"""`bounced demo [--serve]`: see bounced work in under a minute, with nothing but Python installed.

Starts an SQS/SNS emulator (moto) in this process and uses a PostgreSQL it owns: a fresh database
on the server `BOUNCED_DATABASE_URL` names (created for the run and dropped after it; nothing else
there is touched), or else an embedded server (pgserver) with its data in `.demo/pg` under the
current directory. Provisions topics, queues, dead-letter queues and subscriptions, applies the
migrations, runs the real daemon with signature checks off (an emulator cannot sign), publishes a
campaign's feedback and prints what became of every address. Exit 0 when it all went through.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bounced.cli.common import EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, fail
from bounced.db.url import redact
from bounced.demo import embedded, runner
from bounced.service.config import ConfigError
from bounced.service.logs import configure_logging


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `bounced demo`."""
    parser = subparsers.add_parser(
        "demo",
        help="run the real daemon against an embedded emulator and PostgreSQL, and show the outcome",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--serve",
        action="store_true",
        help="keep the daemon, /metrics and the demo database up until Ctrl-C, to try the CLI against",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=embedded.DATA_FOLDER,
        metavar="PATH",
        help="the embedded PostgreSQL's data folder when BOUNCED_DATABASE_URL is unset (default .demo/pg)",
    )
    parser.add_argument(
        "--http-addr",
        metavar="HOST:PORT",
        help="where the daemon serves /metrics and the send-gate (default 127.0.0.1:8080 when free, "
        "else a free port)",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Run the demo; 0 when every message was processed, 1 otherwise."""
    configure_logging("warning", "auto")
    given = os.environ.get("BOUNCED_DATABASE_URL") or None
    try:
        with embedded.emulator() as endpoint, _server(given, args.data_dir) as admin_dsn:
            _say(f"SQS/SNS emulator (moto) on {endpoint}")
            _say("SNS signature checks are off: the emulator cannot sign (the daemon warns too)")
            options = runner.DemoOptions(serve=args.serve, http_addr=args.http_addr)
            asyncio.run(runner.run(admin_dsn, endpoint, options))
    except runner.DemoError as exc:
        return fail(f"demo failed: {exc}", EXIT_PROBLEM)
    except ConfigError as exc:
        return fail(str(exc), EXIT_USAGE)
    except ImportError as exc:  # moto or pgserver: the `embedded` extra is not installed
        return fail(
            f"the demo needs the embedded extra ({exc.name}): pip install 'bounced-ses[embedded]'", EXIT_USAGE
        )
    return EXIT_OK


@contextmanager
def _server(given: str | None, folder: Path) -> Iterator[str]:
    if given:
        _say(f"PostgreSQL: a new database on {redact(given)}, dropped at the end")
        yield given
        return
    _say(f"PostgreSQL: embedded (pgserver), data in {folder}/; the demo's database is dropped at the end")
    with embedded.embedded_server(folder) as dsn:
        yield dsn


def _say(line: str) -> None:
    print(f"bounced demo: {line}", file=sys.stderr)
