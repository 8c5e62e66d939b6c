"""The daemon's lifecycle: one owner for start-up, the running tasks, signals, drain and exit.

Start-up order: the HTTP endpoint first (so /healthz and /readyz answer while we wait; an address that
cannot be bound is a configuration error), then every configured queue (one SQS says is missing or
forbidden is a configuration error; an unreachable SQS is waited for), then PostgreSQL (waiting, not
failing, while it is unreachable; a malformed DSN is a configuration error), the schema check (refuse
a schema behind or ahead of the code), then pollers, the retry scheduler, the gauges refresher,
retention and (with `BOUNCED_SES_SUPPRESSION=push`) the SES suppression-list sender as named tasks in
one TaskGroup. Configuration errors exit 2 with one line.

Every task has one owner, and no task outlives `run` (docs/explanation/architecture.md draws the
tree): the lifecycle's TaskGroup holds the event-loop ticker; inside it the database gate (its probe)
and the group committer (its flushers) own TaskGroups of their own, and inside those the supervising
TaskGroup holds the pollers (each with a TaskGroup of its batches in hand) and the services.

Background tasks never die of a peer: a round that fails because SQS or PostgreSQL failed is counted
in `bounced_errors_total{component=<task>}` and tried again with backoff (bounced/service/supervise.py). Only
a bug ends a task, and then the daemon stops loudly (exit 1) instead of limping on.

Signals only set the stop event. On stop: no new receives, and what a receive in flight brings is
released at once; in-flight batches get the shutdown grace to finish; what is still running then is
cancelled, which releases its messages at once. A second signal exits at once.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass, field, replace
from typing import Any

import structlog
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from bounced import __version__
from bounced.core.aio import sleep_unless_stopped, unless_stopped
from bounced.core.classify import Rules
from bounced.core.clock import Clock, SystemClock
from bounced.core.policy import RetryPolicy
from bounced.core.sendgate import RecipientAnswer, StoreSendGate
from bounced.db.migrate import SchemaState
from bounced.db.store import Store, is_transient_error
from bounced.db.url import redact, scrub
from bounced.ingest.certificate_fetcher import HttpsCertificateFetcher
from bounced.ingest.consumer import DatabaseGate, Poller, PollSettings, Reader
from bounced.ingest.groupcommit import GroupCommitter
from bounced.ingest.reader import MessageReader
from bounced.ingest.sesv2 import SuppressionList, suppression_list
from bounced.ingest.signature import SnsSignatureVerifier
from bounced.ingest.sqs import SqsQueues, is_transient
from bounced.service import gctune, retention, signals
from bounced.service.config import ConfigError, Settings, queue_setting_names
from bounced.service.health import ReadinessReport, liveness, run_checks, tick_forever
from bounced.service.http import build_app, parse_listen_address, serve
from bounced.service.metrics import Metrics
from bounced.service.observe import DaemonObserver
from bounced.service.scheduler import RetryScheduler
from bounced.service.sdnotify import Notifier, watchdog_loop
from bounced.service.seslist import SuppressionSender
from bounced.service.supervise import Backoff, run_every

log = structlog.get_logger("bounced.service.daemon")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
READINESS_TIMEOUT = 3.0
CONNECT_TIMEOUT = 10.0
# How long the scheduler and the gauges get to finish their round once the pollers are done: a
# round blocked on a lock or on a PostgreSQL that stopped answering must not hold the exit.
SERVICES_STOP_TIMEOUT = 3.0
# Backoff of a failing gauges round, and of retention (whose interval is an hour).
GAUGES_LONGEST_BACKOFF = 300.0
RETENTION_BACKOFF = (60.0, retention.INTERVAL_SECONDS)
_NO_SUCH_QUEUE = frozenset({"QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"})
_REGION_IN_URL = re.compile(r"^https?://sqs[.-]([a-z0-9-]+)\.amazonaws\.com", re.IGNORECASE)


def retry_policy(table: Mapping[str, Any]) -> RetryPolicy:
    """The retry policy from the TOML `[retry]` table (`windows` and `jitter`), defaults elsewhere."""
    unknown = set(table) - {"windows", "jitter"}
    if unknown:
        raise ConfigError(f"retry.{sorted(unknown)[0]}", "unknown key (retry takes windows and jitter)")
    windows = table.get("windows", {})
    if not isinstance(windows, Mapping):
        raise ConfigError("retry.windows", "must be a table of cause = [durations]")
    if "jitter" in table:
        return RetryPolicy.from_mapping(windows, jitter=table["jitter"])
    return RetryPolicy.from_mapping(windows)


class StartupError(Exception):
    """The daemon cannot start as configured (exit 2): the message says what to do."""


def aws_region(environ: Mapping[str, str], queue_urls: Sequence[str]) -> str:
    """AWS_REGION (or AWS_DEFAULT_REGION), else the region in an SQS queue URL."""
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if region:
        return region
    for url in queue_urls:
        match = _REGION_IN_URL.match(url)
        if match:
            return match.group(1)
    raise ConfigError("AWS_REGION", "not set, and no queue URL names a region")


def sqs_client_config(pollers: int, wait_time_seconds: int) -> AioConfig:
    """The SQS client's settings: connections for every poller, and no retries of botocore's own."""
    return AioConfig(
        # A poller may have a receive and the deletes of its two batches in flight at once.
        max_pool_connections=3 * pollers + 8,
        connect_timeout=5,
        read_timeout=wait_time_seconds + 15,
        # tenacity in the consumer is the one retry policy; botocore's own would multiply it.
        # botocore's `max_attempts` counts retries (1 would mean two tries); `total_max_attempts`
        # counts every try, so 1 is the one try botocore makes.
        retries={"total_max_attempts": 1, "mode": "standard"},
    )


@dataclass
class Daemon:
    """Everything `bounced run` runs, wired together."""

    settings: Settings
    environ: Mapping[str, str]
    clock: Clock = field(default_factory=SystemClock)
    once: bool = False
    notifier: Notifier = field(default_factory=Notifier.from_env)

    def __post_init__(self) -> None:
        self.stop = asyncio.Event()
        self._signalled = False
        self.policy = retry_policy(self.settings.retry)
        self.metrics = Metrics(version=__version__, policy=self.policy)
        self.heartbeats = liveness(self.clock.now())
        self.observer = DaemonObserver(self.metrics, self.heartbeats, self.clock)
        self.rules = Rules.from_mapping(self.settings.rules)
        if self.settings.escalate_nonexistent:
            self.rules = replace(self.rules, escalate_nonexistent=True)
        self.queues = self.settings.require_queues()
        self.region = aws_region(self.environ, list(self.queues.values()))
        self.store: Store | None = None
        self.sqs: SqsQueues | None = None
        self._dlq_urls: dict[str, str] = {}

    async def run(self) -> int:
        """Run until signalled (or, with `once`, until every queue is drained); return the exit code."""
        self._install_signal_handlers()
        async with AsyncExitStack() as stack:
            await self._start_http(stack)
            self._log_trust()
            try:
                async with asyncio.TaskGroup() as lifecycle:
                    ticker = lifecycle.create_task(
                        tick_forever(self.heartbeats, self.clock), name="event-loop"
                    )
                    try:
                        await self._start_and_supervise(stack)
                    finally:
                        ticker.cancel()
            except* StartupError as errors:
                raise errors.exceptions[0] from None  # one line and exit 2, not a task's failure
        log.info("daemon_stopped")
        return EXIT_OK

    async def _start_and_supervise(self, stack: AsyncExitStack) -> None:
        self.sqs = await self._open_sqs(stack)
        if not await self._check_queues(self.sqs):
            return  # stopped while waiting for SQS
        self.store = await self._connect_store(stack)
        if self.store is None:
            return  # stopped while waiting for PostgreSQL
        await self._check_schema(self.store)
        ses = await self._open_ses(stack)
        await self._supervise(self.store, self.sqs, self._open_verifier(), ses)

    def _log_trust(self) -> None:
        if not self.settings.verify_signatures:
            log.warning("signature_verification_off", hint="only for local emulators such as moto")
        elif self.settings.unsigned_queues:
            log.info(
                "unsigned_bodies_accepted",
                queues=sorted(self.settings.unsigned_queues),
                hint="the queue policy is their only guard",
            )

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in signals.STOP_SIGNALS:
            loop.add_signal_handler(signum, self._on_signal, signum)
        for early in signals.held():  # arrived while the process was starting
            self._on_signal(early)

    def _on_signal(self, signum: int) -> None:
        if self._signalled:
            log.warning("second_signal_exit", signal=signal.Signals(signum).name)
            os._exit(128 + signum)
        self._signalled = True
        log.info("stop_requested", signal=signal.Signals(signum).name)
        self.notifier.stopping()
        self.notifier.status("Stopping: draining in-flight batches")
        self.stop.set()

    async def _start_http(self, stack: AsyncExitStack) -> None:
        host, port = parse_listen_address(self.settings.http_addr)
        app = build_app(
            heartbeats=self.heartbeats,
            clock=self.clock,
            readiness=self.readiness,
            metrics=self.metrics,
            sendgate=StoreSendGate(self),
            api_token=self.settings.api_token,
        )
        try:
            handle = await serve(app, host, port, max_connections=self.settings.http_max_connections)
        except OSError as exc:  # a name that does not resolve, an address not ours, a port in use
            reason = exc.strerror or type(exc).__name__
            where = self.settings.http_addr
            raise StartupError(f"BOUNCED_HTTP_ADDR: cannot listen on {where}: {reason}") from None
        stack.push_async_callback(handle.stop)
        log.info("http_listening", address=f"{host}:{handle.port}")

    async def _connect_store(self, stack: AsyncExitStack) -> Store | None:
        """Connect to PostgreSQL, waiting with backoff while it is unreachable; None when stopped."""
        backoff = 0.5
        self.notifier.status("Waiting for PostgreSQL")
        while not self.stop.is_set():
            try:
                store = await unless_stopped(self._connect_once(), self.stop)
            except (ValueError, OverflowError) as exc:  # asyncpg could not read the DSN
                raise StartupError(self._dsn_problem(exc)) from None
            except Exception as exc:
                log.warning(
                    "database_unreachable",
                    dsn=redact(self.settings.database_url),
                    error=type(exc).__name__,
                )
                await sleep_unless_stopped(self.clock, backoff, self.stop)
                backoff = min(backoff * 2, 10.0)
                continue
            if store is not None:
                stack.push_async_callback(store.close)
            return store
        return None

    def _dsn_problem(self, exc: Exception) -> str:
        # asyncpg's wording names the parameter at fault, except a bare ValueError from parsing,
        # which may quote a piece of the DSN (a password with a reserved character, say).
        kind = type(exc).__name__
        detail = kind if type(exc) is ValueError else f"{kind}: {scrub(str(exc), self.settings.database_url)}"
        where = "BOUNCED_DATABASE_URL" if self.settings.database_url else "PG* variables"
        return f"{where}: not a usable PostgreSQL DSN ({detail})"

    async def _check_queues(self, sqs: SqsQueues) -> bool:
        """Wait until SQS answers for every configured queue; False when stopped meanwhile.
        StartupError when SQS says one does not exist or may not be used (a 4xx)."""
        backoff = 0.5
        while not self.stop.is_set():
            try:
                await unless_stopped(self._probe_queues(sqs), self.stop)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.warning("queues_unreachable", error=type(exc).__name__)
                await sleep_unless_stopped(self.clock, backoff, self.stop)
                backoff = min(backoff * 2, 10.0)
                continue
            return not self.stop.is_set()
        return False

    async def _probe_queues(self, sqs: SqsQueues) -> None:
        for setting, url in queue_setting_names(self.settings).items():
            try:
                await sqs.depth(url)
            except ClientError as exc:
                if is_transient(exc):
                    raise
                code = str(exc.response.get("Error", {}).get("Code", "ClientError"))
                problem = "no such queue" if code in _NO_SUCH_QUEUE else "SQS refused it"
                raise StartupError(f"{setting}: {problem} ({code})") from None

    async def _connect_once(self) -> Store:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            return await Store.connect(
                self.settings.database_url,
                policy=self.policy,
                max_size=self.settings.pool_size(),
                ses_push=self.settings.pushes_to_ses(),
            )

    async def _check_schema(self, store: Store) -> None:
        status = await store.schema_status()
        if status.state is not SchemaState.CURRENT:
            raise StartupError(status.message())

    async def _open_sqs(self, stack: AsyncExitStack) -> SqsQueues:
        pollers = self.settings.pollers_per_queue * len(self.queues)
        config = sqs_client_config(pollers, self.settings.wait_time_seconds)
        session = get_session()
        client = await stack.enter_async_context(
            session.create_client("sqs", region_name=self.region, config=config)
        )
        return SqsQueues(client)

    async def _open_ses(self, stack: AsyncExitStack) -> SuppressionList | None:
        """SES's suppression list with `BOUNCED_SES_SUPPRESSION=push` (None otherwise). Opening the
        client asks nothing of SES: an unreachable SES only makes the sender wait."""
        if not self.settings.pushes_to_ses():
            return None
        log.info("ses_suppression_push_on")
        return await stack.enter_async_context(suppression_list(self.region))

    def _open_verifier(self) -> SnsSignatureVerifier | None:
        if not self.settings.verify_signatures:
            return None
        return SnsSignatureVerifier(HttpsCertificateFetcher(), clock=self.clock)

    async def _supervise(
        self,
        store: Store,
        sqs: SqsQueues,
        verifier: SnsSignatureVerifier | None,
        ses: SuppressionList | None,
    ) -> None:
        # The gate and the committer outlive the pollers that use them: their tasks (the database
        # probe, the group-commit flushers) are cancelled only once every poller is done.
        async with (
            DatabaseGate(store.ping, self.clock) as gate,
            # Batches ready at the same moment share one transaction (see bounced/ingest/groupcommit.py).
            GroupCommitter(store, is_transient=is_transient_error) as committer,
        ):
            await self._run_tasks(store, sqs, self._pollers(committer, sqs, gate, verifier), ses)

    async def _run_tasks(
        self, store: Store, sqs: SqsQueues, pollers: Sequence[Poller], ses: SuppressionList | None
    ) -> None:
        services_stop = asyncio.Event()
        scheduler = RetryScheduler(
            store=store,
            clock=self.clock,
            observer=self.observer,
            interval=self.settings.scheduler_interval,
            sqs=sqs,
            outbound_url=self.settings.retry_queue_url,
        )
        gctune.settle_after_startup()  # everything start-up loads is in memory now
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(p.run(self.stop, until_empty=self.once), name=p.name) for p in pollers]
            # Services run until the pollers have drained; then they get SERVICES_STOP_TIMEOUT to end
            # their round and are cancelled: a round blocked on a lock (or on a PostgreSQL that stopped
            # answering) must not hold the exit, and cancelling one rolls back a whole transaction.
            services = [
                group.create_task(scheduler.run(services_stop), name="scheduler"),
                group.create_task(self._refresh_gauges(store, sqs, services_stop), name="gauges"),
                group.create_task(self._retention(store, services_stop), name="retention"),
            ]
            if ses is not None:
                sender = self._ses_sender(store, ses)
                services.append(group.create_task(sender.run(services_stop), name="ses_suppression"))
            watchdog = group.create_task(self._watchdog(), name="watchdog")
            for task in [*tasks, *services, watchdog]:
                self.heartbeats.register_task(task.get_name(), task, self.clock.now())
            self.notifier.ready()
            self.notifier.status(f"Polling {len(self.queues)} queue(s) with {len(pollers)} poller(s)")
            log.info("daemon_ready", queues=sorted(self.queues), pollers=len(pollers))
            await self._until_stopped(tasks)
            await self._drain(tasks)
            services_stop.set()
            watchdog.cancel()
            await _stop_within(services, SERVICES_STOP_TIMEOUT)

    def _ses_sender(self, store: Store, ses: SuppressionList) -> SuppressionSender:
        return SuppressionSender(
            store=store,
            ses=ses,
            clock=self.clock,
            observer=self.observer,
            interval=self.settings.scheduler_interval,
        )

    def _pollers(
        self,
        committer: GroupCommitter,
        sqs: SqsQueues,
        gate: DatabaseGate,
        verifier: SnsSignatureVerifier | None,
    ) -> list[Poller]:
        reader = self._reader(verifier)
        poll = PollSettings(
            batch_size=self.settings.batch_size,
            wait_seconds=self.settings.wait_time_seconds,
            visibility_timeout=self.settings.visibility_timeout,
        )
        pollers = []
        for queue, url in self.queues.items():
            for index in range(self.settings.pollers_per_queue):
                name = f"poller:{queue}:{index}"
                pollers.append(
                    Poller(
                        name=name,
                        queue=queue,
                        queue_url=url,
                        sqs=sqs,
                        reader=reader,
                        store=committer,
                        gate=gate,
                        observer=self.observer,
                        clock=self.clock,
                        settings=poll,
                    )
                )
        return pollers

    def _reader(self, verifier: SnsSignatureVerifier | None) -> Reader:
        """The one reader every poller shares."""
        return MessageReader(
            verifier=verifier,
            allowed_topics=self.settings.allowed_topic_arns,
            unsigned_queues=self.settings.unsigned_queues,
            allowed_accounts=self.settings.allowed_accounts,
            rules=self.rules,
            max_receive_count=self.settings.max_receive_count,
            clock=self.clock,
        )

    async def _until_stopped(self, pollers: Sequence[asyncio.Task[None]]) -> None:
        """Return when stop is requested, or (with `once`) when every poller has drained its queue."""
        stopper = asyncio.ensure_future(self.stop.wait())
        waiting: set[asyncio.Future[Any]] = {stopper, *pollers}
        try:
            while not self.stop.is_set():
                if all(task.done() for task in pollers):
                    log.info("all_queues_drained")
                    return
                _, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            await asyncio.wait([stopper])

    async def _drain(self, pollers: Sequence[asyncio.Task[None]]) -> None:
        """Give the pollers the shutdown grace to finish their last receive (releasing what it brings)
        and their batches in hand, then cancel (which releases their messages)."""
        self.stop.set()
        running = [task for task in pollers if not task.done()]
        if running:
            log.info("draining", pollers=len(running), grace_seconds=self.settings.shutdown_grace)
            _, late = await asyncio.wait(running, timeout=self.settings.shutdown_grace)
            for task in late:
                task.cancel()
            if late:
                log.warning("drain_deadline_passed", cancelled=len(late))
                await asyncio.wait(late)

    async def _refresh_gauges(self, store: Store, sqs: SqsQueues, stop: asyncio.Event) -> None:
        """Queue depths (with DLQs), recipients by status and pending retries, every interval."""
        interval = self.settings.queue_metrics_interval
        await run_every(
            "gauges",
            lambda: self._refresh_once(store, sqs),
            interval=interval,
            backoff=Backoff(first=interval, longest=max(interval, GAUGES_LONGEST_BACKOFF)),
            clock=self.clock,
            stop=stop,
            on_error=self.observer.failed,
        )

    async def _retention(self, store: Store, stop: asyncio.Event) -> None:
        first, longest = RETENTION_BACKOFF
        await retention.run(
            store,
            self.clock,
            self.settings.retention_days,
            stop,
            backoff=Backoff(first=first, longest=longest),
            on_error=self.observer.failed,
        )

    async def _refresh_once(self, store: Store, sqs: SqsQueues) -> None:
        for queue, url in self.queues.items():
            depth = await sqs.depth(url)
            self.metrics.set_queue_depth(queue, depth.visible, depth.in_flight)
            if depth.dead_letter_queue_arn:
                dlq = await sqs.depth(await self._url_of(sqs, depth.dead_letter_queue_arn))
                self.metrics.set_queue_depth(f"{queue}-dlq", dlq.visible, dlq.in_flight)
        self.metrics.set_recipients(await store.recipient_counts())
        self.metrics.set_retries_pending(await store.pending_retry_count())
        self.metrics.set_ses_suppression_pending(await store.ses_calls_pending())

    async def _url_of(self, sqs: SqsQueues, arn: str) -> str:
        """A DLQ's URL from its ARN, asked of SQS once per ARN (redrive policies rarely change)."""
        if arn not in self._dlq_urls:
            self._dlq_urls[arn] = await sqs.url_of_arn(arn)
        return self._dlq_urls[arn]

    async def _watchdog(self) -> None:
        """WATCHDOG=1 at half of WatchdogSec, withheld while liveness fails (as /healthz says)."""
        with suppress(asyncio.CancelledError):
            await watchdog_loop(
                self.notifier, self.clock, lambda: self.heartbeats.report(self.clock.now()).healthy
            )

    async def sendgate_answers(self, addresses: Sequence[str]) -> Sequence[RecipientAnswer]:
        """The send-gate's lookup, once PostgreSQL is connected (until then /v1/ answers 503)."""
        if self.store is None:
            raise RuntimeError("not connected yet")
        return await self.store.sendgate_answers(addresses)

    async def readiness(self) -> ReadinessReport:
        """Ready only when PostgreSQL answers, the schema is current and every queue (inbound and
        outbound) exists and answers."""
        checks: dict[str, Callable[[], Awaitable[None]]] = {"database": self._ready_database}
        queues = dict(self.queues)
        if self.settings.retry_queue_url:
            queues["retry"] = self.settings.retry_queue_url
        for queue, url in queues.items():
            checks[f"queue:{queue}"] = self._queue_check(url)
        return await run_checks(checks, READINESS_TIMEOUT)

    async def _ready_database(self) -> None:
        if self.store is None:
            raise RuntimeError("not connected yet")
        await self.store.ping()
        status = await self.store.schema_status()
        if status.state is not SchemaState.CURRENT:
            raise RuntimeError(status.message())

    def _queue_check(self, url: str) -> Callable[[], Awaitable[None]]:
        async def check() -> None:
            if self.sqs is None:
                raise RuntimeError("not connected yet")
            await self.sqs.depth(url)

        return check


async def _stop_within(tasks: Sequence[asyncio.Task[None]], seconds: float) -> None:
    """Wait up to `seconds` for tasks told to stop, then cancel the late ones. Cancelling is safe:
    a release rolls back whole, and a release not yet announced stays in the outbox."""
    _, late = await asyncio.wait(tasks, timeout=seconds)
    for task in late:
        task.cancel()
    if late:
        log.warning("services_cancelled", tasks=sorted(task.get_name() for task in late))
