"""Prometheus metrics: one `Metrics` object per daemon, with its own registry.

The registry is not prometheus_client's global one, so tests and several daemons in one process stay
independent. Counters are declared without the `_total` suffix: prometheus_client appends it, so the
exposed names are exactly the documented ones (`bounced_messages_received_total`, ...).

`bounced_queue_messages{queue,state}` uses the states `visible` and `in_flight` (snake_case, as label
values usually are): SQS's ApproximateNumberOfMessages and ApproximateNumberOfMessagesNotVisible.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from bounced import __version__
from bounced.core import seslist
from bounced.core.model import Status
from bounced.core.policy import DEFAULT_POLICY, RetryPolicy

# A batch is one receive plus one transaction: milliseconds when healthy, up to the visibility timeout
# when Postgres is slow.
BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# SentTimestamp to commit: sub-second when keeping up, hours to a day after an outage (SQS keeps
# messages up to 14 days; anything past a day lands in +Inf).
LAG_BUCKETS = (
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1800.0,
    3600.0,
    7200.0,
    21600.0,
    43200.0,
    86400.0,
)

QUEUE_STATE_VISIBLE = "visible"
QUEUE_STATE_IN_FLIGHT = "in_flight"


class Metrics:
    """Every metric bounced exposes, with one method per thing the daemon reports."""

    def __init__(self, version: str = __version__, policy: RetryPolicy = DEFAULT_POLICY) -> None:
        self._policy = policy
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._received = Counter("bounced_messages_received", "SQS messages received.", ["queue"], registry=r)
        self._deleted = Counter(
            "bounced_messages_deleted",
            "SQS messages deleted after their batch committed.",
            ["queue"],
            registry=r,
        )
        self._decisions = Counter(
            "bounced_decisions", "Per-recipient decisions applied.", ["kind", "action"], registry=r
        )
        self._quarantined = Counter(
            "bounced_messages_quarantined",
            "Messages set aside because they could not be read or verified.",
            ["queue", "reason"],
            registry=r,
        )
        self._batch = Histogram(
            "bounced_batch_seconds", "Time to handle one received batch.", buckets=BATCH_BUCKETS, registry=r
        )
        self._lag = Histogram(
            "bounced_notification_lag_seconds",
            "From SQS SentTimestamp to the commit of the message's batch.",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self._retries_scheduled = Counter(
            "bounced_retries_scheduled", "Retries scheduled for transient failures.", ["cause"], registry=r
        )
        self._retries_released = Counter(
            "bounced_retries_released", "Due retries released back to active.", registry=r
        )
        self._retries_pending = Gauge(
            "bounced_retries_pending", "Retries scheduled and not yet due.", registry=r
        )
        self._recipients = Gauge("bounced_recipients", "Known addresses by status.", ["status"], registry=r)
        self._queue_messages = Gauge(
            "bounced_queue_messages",
            "Approximate SQS queue depth (state: visible, in_flight), DLQs included.",
            ["queue", "state"],
            registry=r,
        )
        self._ses_pending = Gauge(
            "bounced_ses_suppression_pending",
            "Calls to SES's suppression list waiting in the outbox.",
            registry=r,
        )
        self._ses_calls = Counter(
            "bounced_ses_suppression_calls",
            "Calls to SES's suppression list (operation: put, delete; result: ok, not_found, throttled,"
            " rejected, error).",
            ["operation", "result"],
            registry=r,
        )
        for operation in seslist.OPERATIONS:
            for result in seslist.RESULTS:
                self._ses_calls.labels(operation=operation, result=result)
        self._errors = Counter("bounced_errors", "Errors by component.", ["component"], registry=r)
        self._build_info = Gauge(
            "bounced_build_info", "Always 1; the version as a label.", ["version"], registry=r
        )
        self._build_info.labels(version=version).set(1)
        self._statuses: set[str] = {status.value for status in Status}
        self.set_recipients({})

    def received(self, queue: str, n: int = 1) -> None:
        """`n` messages were received from `queue`."""
        self._received.labels(queue=queue).inc(n)

    def deleted(self, queue: str, n: int = 1) -> None:
        """`n` messages were deleted from `queue` after their batch committed."""
        self._deleted.labels(queue=queue).inc(n)

    def decided(self, kind: str, action: str, n: int = 1) -> None:
        """`n` decisions `action` (suppress, retry, ...) were applied for notifications of `kind`."""
        self._decisions.labels(kind=kind, action=action).inc(n)

    def quarantined(self, queue: str, reason: str, n: int = 1) -> None:
        """`n` messages from `queue` were quarantined for `reason` (a short code, not free text)."""
        self._quarantined.labels(queue=queue, reason=reason).inc(n)

    def observe_batch(self, seconds: float) -> None:
        """One batch took `seconds` from receive to delete."""
        self._batch.observe(seconds)

    def observe_lag(self, seconds: float) -> None:
        """One message committed `seconds` after SQS accepted it (SentTimestamp)."""
        self._lag.observe(max(seconds, 0.0))  # clocks differ a little; a negative lag means "none"

    def retry_scheduled(self, cause: str, n: int = 1) -> None:
        """`n` retries were scheduled for `cause` (a bounce subtype or delay type). The label is the
        name of the retry windows that apply (`RetryPolicy.window_name`): a subtype nobody configured,
        whatever a remote server made up, counts under `default` and adds no series."""
        self._retries_scheduled.labels(cause=self._policy.window_name(cause)).inc(n)

    def retries_released(self, n: int = 1) -> None:
        """`n` due retries were released."""
        self._retries_released.inc(n)

    def set_retries_pending(self, n: int) -> None:
        """The number of retries scheduled and not yet released."""
        self._retries_pending.set(n)

    def set_recipients(self, counts: Mapping[str, int]) -> None:
        """Addresses per status; a status absent from `counts` (or seen before and gone) is set to 0."""
        self._statuses.update(counts)
        for status in self._statuses:
            self._recipients.labels(status=status).set(counts.get(status, 0))

    def set_queue_depth(self, queue: str, visible: int, in_flight: int) -> None:
        """Approximate depth of `queue` (a main queue or a DLQ such as `bounce-dlq`)."""
        self._queue_messages.labels(queue=queue, state=QUEUE_STATE_VISIBLE).set(visible)
        self._queue_messages.labels(queue=queue, state=QUEUE_STATE_IN_FLIGHT).set(in_flight)

    def ses_suppression_call(self, operation: str, result: str) -> None:
        """One call to SES's suppression list ended: `operation` put or delete, `result` one of
        seslist.RESULTS."""
        self._ses_calls.labels(operation=operation, result=result).inc()

    def set_ses_suppression_pending(self, n: int) -> None:
        """The number of calls waiting in the SES suppression-list outbox."""
        self._ses_pending.set(n)

    def error(self, component: str, n: int = 1) -> None:
        """`component` hit an error: `sqs` and `store` (pollers), a background task by its name
        (`scheduler`, `gauges`, `retention`, `ses_suppression`), `http`, `readiness`, `sendgate`,
        `sdnotify`."""
        self._errors.labels(component=component).inc(n)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

    @property
    def content_type(self) -> str:
        """The Content-Type of `render()`'s output."""
        # generate_latest writes the classic 0.0.4 text format; prometheus_client's own handlers
        # pair it with this type (CONTENT_TYPE_LATEST now names 1.0.0).
        return CONTENT_TYPE_PLAIN_0_0_4
