"""`bounced demo`, wired: provision the emulator, migrate, run the real daemon, publish, wait, report.

The daemon is `bounced.service.daemon.Daemon`, the same object `bounced run` runs, started in this process
as a task; the demo ends it by setting its stop event (or, with `serve`, a signal does). Its settings
come from `load_settings` over an environment the demo builds, with signature checks off (the
emulator cannot sign; the daemon logs a warning saying so) and short retry windows, so the summary
shows retry times minutes away rather than days.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import sys
import time
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from contextlib import AsyncExitStack, contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import IO, Any

from aiobotocore.session import get_session

from bounced.db.migrate import migrate_database
from bounced.db.store import Store
from bounced.demo.campaign import Feedback, campaign
from bounced.demo.embedded import fresh_database
from bounced.demo.summary import Report, render, serve_help
from bounced.ingest.provision import FeedbackWiring, provision
from bounced.service.config import load_settings
from bounced.service.daemon import Daemon

REGION = "us-east-1"
PREFIX = "bounced-demo"
PREFERRED_HTTP_PORT = 8080
# The complaint topic delivers raw (bare SES JSON), the others in the SNS envelope: both paths show.
RAW_DELIVERY = {"complaint": True}
WAIT_LIMIT_SECONDS = 45.0
# Short windows so a person watching `--serve` sees retries come due and get released.
DEMO_RETRY = {
    "windows": {
        "General": ["2m", "10m", "1h"],
        "MailboxFull": ["5m", "1h", "1d"],
        "DeliveryDelay.MailboxFull": ["3m", "30m"],
        "DeliveryDelay.RecipientServerError": ["3m", "30m"],
        "DeliveryDelay": ["3m", "30m"],
        "default": ["2m", "10m"],
    }
}
# moto takes any credentials; these keep botocore from looking for real ones.
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo"}
# Variables that would send the demo's AWS calls elsewhere than the emulator.
AWS_OVERRIDES = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_SNS")


class DemoError(Exception):
    """The demo could not finish (the message says what went wrong)."""


@dataclass
class DemoOptions:
    """How to run the demo."""

    serve: bool = False
    http_addr: str | None = None  # default: 127.0.0.1:8080 when free, else a free port
    out: IO[str] = field(default_factory=lambda: sys.stdout)
    err: IO[str] = field(default_factory=lambda: sys.stderr)


def pick_http_addr() -> str:
    """127.0.0.1:8080 when nothing listens there, else 127.0.0.1 on a port the system picks."""
    for port in (PREFERRED_HTTP_PORT, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return f"127.0.0.1:{probe.getsockname()[1]}"
    raise DemoError("no free port on 127.0.0.1")


def aws_environment(endpoint: str) -> dict[str, str]:
    """The AWS SDK variables pointing every client (the daemon's too) at the emulator."""
    return {**FAKE_AWS, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": endpoint}


@contextmanager
def patched_environ(values: Mapping[str, str], remove: Sequence[str] = AWS_OVERRIDES) -> Iterator[None]:
    """Set `values` in os.environ (botocore reads it) and drop `remove`; restore everything after."""
    saved = {name: os.environ.get(name) for name in (*values, *remove)}
    for name in remove:
        os.environ.pop(name, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def daemon_environment(dsn: str, endpoint: str, http_addr: str, wiring: FeedbackWiring) -> dict[str, str]:
    """The environment the demo's daemon reads its settings from."""
    return {
        **aws_environment(endpoint),
        **wiring.environment(),
        "BOUNCED_DATABASE_URL": dsn,
        "BOUNCED_VERIFY_SIGNATURES": "false",
        "BOUNCED_WAIT_TIME_SECONDS": "1",
        "BOUNCED_SHUTDOWN_GRACE": "5",
        "BOUNCED_SCHEDULER_INTERVAL": "1",
        "BOUNCED_QUEUE_METRICS_INTERVAL": "2",
        "BOUNCED_HTTP_ADDR": http_addr,
        "BOUNCED_LOG_LEVEL": "warning",
    }


async def run(admin_dsn: str, endpoint: str, options: DemoOptions) -> Report:
    """The whole demo on a fresh database of `admin_dsn`'s server; returns what it showed."""
    started = time.monotonic()
    http_addr = options.http_addr or pick_http_addr()
    with patched_environ(aws_environment(endpoint)):
        async with fresh_database(admin_dsn) as dsn, AsyncExitStack() as stack:
            sns, sqs = await _clients(stack, endpoint)
            wiring = await provision(sns, sqs, prefix=PREFIX, raw_delivery=RAW_DELIVERY)
            await migrate_database(dsn)
            env = daemon_environment(dsn, endpoint, http_addr, wiring)
            daemon = Daemon(settings=replace(load_settings(env), retry=DEMO_RETRY), environ=env)
            daemon_task = asyncio.create_task(daemon.run(), name="demo-daemon")
            try:
                drive = _drive(sns, sqs, wiring=wiring, daemon=daemon, http_addr=http_addr, options=options)
                report = await _unless_it_stops(drive, daemon_task)
                options.out.write(render(report, time.monotonic() - started))
                if options.serve:
                    options.out.write(serve_help(env, http_addr))
                    options.out.flush()
                    await asyncio.wait([daemon_task])  # until Ctrl-C: the daemon's own handler stops it
            except BaseException:
                daemon.stop.set()
                await asyncio.wait([daemon_task])  # the error on its way says what went wrong
                raise
            daemon.stop.set()
            await _finish(daemon_task)
    return report


async def _clients(stack: AsyncExitStack, endpoint: str) -> tuple[Any, Any]:
    session = get_session()
    sns = await stack.enter_async_context(
        session.create_client("sns", region_name=REGION, endpoint_url=endpoint)
    )
    sqs = await stack.enter_async_context(
        session.create_client("sqs", region_name=REGION, endpoint_url=endpoint)
    )
    return sns, sqs


async def _unless_it_stops(work: Coroutine[Any, Any, Report], daemon_task: asyncio.Task[int]) -> Report:
    """`work`'s result, or DemoError as soon as the daemon stops before it is done."""
    task = asyncio.ensure_future(work)
    await asyncio.wait({task, daemon_task}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        return task.result()
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task
    raise DemoError(f"the daemon stopped early: {_why(daemon_task)}")


def _why(task: asyncio.Task[int]) -> str:
    if task.cancelled():
        return "cancelled"
    error = task.exception()
    return f"{type(error).__name__}: {error}" if error else f"exit status {task.result()}"


async def _finish(task: asyncio.Task[int]) -> None:
    """Wait for the daemon to end; DemoError unless it ended cleanly."""
    await asyncio.wait([task])
    if task.cancelled() or task.exception() is not None or task.result() != 0:
        raise DemoError(f"the daemon did not stop cleanly: {_why(task)}")


async def _drive(
    sns: Any,
    sqs: Any,
    *,
    wiring: FeedbackWiring,
    daemon: Daemon,
    http_addr: str,
    options: DemoOptions,
) -> Report:
    items = campaign(datetime.now(UTC), run=secrets.token_hex(2))
    await publish(sns, sqs, wiring, items)
    await wait_processed(sqs, list(wiring.queues.values()), len(items), options.err)
    store = await Store.connect(daemon.settings.database_url, policy=daemon.policy, max_size=2)
    try:
        return await Report.read(store, items, http_addr)
    finally:
        await store.close()


async def publish(sns: Any, sqs: Any, wiring: FeedbackWiring, items: Sequence[Feedback]) -> None:
    """Publish each item to its topic, in order (the poison message straight to its queue)."""
    for item in items:
        if item.direct:
            await sqs.send_message(QueueUrl=wiring.queues[item.kind], MessageBody=item.body)
        else:
            await sns.publish(TopicArn=wiring.topics[item.kind], Message=item.body)


async def wait_processed(
    sqs: Any, queue_urls: Sequence[str], total: int, err: IO[str], limit: float = WAIT_LIMIT_SECONDS
) -> None:
    """Until every queue is empty (the daemon deletes a message only after its commit), with a
    progress line; DemoError after `limit` seconds."""
    deadline = time.monotonic() + limit
    while True:
        left = sum([await _depth(sqs, url) for url in queue_urls])
        _progress(err, total - left, total)
        if left == 0:
            err.write("\n")
            return
        if time.monotonic() > deadline:
            err.write("\n")
            raise DemoError(f"{left} message(s) still on the queues after {limit:g} s")
        await asyncio.sleep(0.2)


async def _depth(sqs: Any, url: str) -> int:
    reply = await sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )
    attributes = reply.get("Attributes", {})
    return int(attributes.get("ApproximateNumberOfMessages", 0)) + int(
        attributes.get("ApproximateNumberOfMessagesNotVisible", 0)
    )


def _progress(err: IO[str], done: int, total: int) -> None:
    # Rewritten in place on a terminal; elsewhere (a log, a test) only the final count.
    line = f"bounced demo: processed {max(done, 0)}/{total} messages"
    if err.isatty():
        err.write("\r" + line)
    elif done >= total:
        err.write(line)
    err.flush()
