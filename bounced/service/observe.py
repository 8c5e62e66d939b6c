"""Where the consumer's and scheduler's reports go: Prometheus metrics and health heartbeats."""

from __future__ import annotations

from datetime import datetime, timedelta

from bounced.core.batch import CommitSummary
from bounced.core.clock import Clock
from bounced.service.health import Heartbeats
from bounced.service.metrics import Metrics


class DaemonObserver:
    """Implements the consumer's BatchObserver, the scheduler's SchedulerObserver and the SES
    suppression-list sender's SesObserver."""

    def __init__(self, metrics: Metrics, heartbeats: Heartbeats, clock: Clock) -> None:
        self._metrics = metrics
        self._heartbeats = heartbeats
        self._clock = clock

    def polled(self, poller: str, queue: str, received: int) -> None:
        self._heartbeats.beat(poller, self._clock.now())
        if received:
            self._metrics.received(queue, received)

    def committed(self, queue: str, summary: CommitSummary, seconds: float, now: datetime) -> None:
        self._metrics.observe_batch(seconds)
        for (kind, action), count in summary.events.items():
            self._metrics.decided(kind, action, count)
        for (quarantine_queue, reason), count in summary.quarantined.items():
            self._metrics.quarantined(quarantine_queue, reason, count)
        for cause, count in summary.retries_scheduled.items():
            self._metrics.retry_scheduled(cause, count)
        for sent_at in summary.sent_at:
            self._metrics.observe_lag(max((now - sent_at) / timedelta(seconds=1), 0.0))

    def deleted(self, queue: str, count: int) -> None:
        if count:
            self._metrics.deleted(queue, count)

    def failed(self, component: str) -> None:
        self._metrics.error(component)

    def released(self, count: int) -> None:
        self._metrics.retries_released(count)

    def ses_suppression_call(self, operation: str, result: str) -> None:
        self._metrics.ses_suppression_call(operation, result)

    def set_ses_suppression_pending(self, n: int) -> None:
        self._metrics.set_ses_suppression_pending(n)

    def scheduler_ran(self) -> None:
        self._heartbeats.beat("scheduler", self._clock.now())
