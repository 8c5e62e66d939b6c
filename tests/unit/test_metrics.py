"""The metrics keep their documented names, labels and counts."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

from prometheus_client.parser import text_string_to_metric_families

from bounced.core.batch import CommitSummary
from bounced.core.policy import RetryPolicy
from bounced.service.config import load_settings
from bounced.service.daemon import Daemon
from bounced.service.health import Heartbeats
from bounced.service.metrics import Metrics
from bounced.service.observe import DaemonObserver
from tests.support.clock import ManualClock

EXPECTED_SAMPLE_NAMES = {
    "bounced_messages_received_total",
    "bounced_messages_deleted_total",
    "bounced_decisions_total",
    "bounced_messages_quarantined_total",
    "bounced_batch_seconds_bucket",
    "bounced_notification_lag_seconds_bucket",
    "bounced_retries_scheduled_total",
    "bounced_retries_released_total",
    "bounced_retries_pending",
    "bounced_recipients",
    "bounced_queue_messages",
    "bounced_errors_total",
    "bounced_ses_suppression_pending",
    "bounced_ses_suppression_calls_total",
    "bounced_build_info",
}


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.render().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def exercised() -> Metrics:
    m = Metrics(version="9.9.9")
    m.received("bounce", 10)
    m.received("bounce")
    m.deleted("bounce", 9)
    m.decided("bounce", "suppress", 2)
    m.quarantined("complaint", "bad_json")
    m.observe_batch(0.02)
    m.observe_lag(3.0)
    m.retry_scheduled("MailboxFull")
    m.retries_released(4)
    m.set_retries_pending(7)
    m.set_recipients({"active": 5, "suppressed": 2})
    m.set_queue_depth("bounce-dlq", visible=3, in_flight=1)
    m.error("store")
    m.ses_suppression_call("put", "throttled")
    m.ses_suppression_call("put", "ok")
    m.ses_suppression_call("put", "ok")
    m.set_ses_suppression_pending(5)
    return m


def test_every_documented_name_is_exposed() -> None:
    names = {name for name, _ in samples(exercised())}
    assert names >= EXPECTED_SAMPLE_NAMES


def test_exposed_names_carry_only_documented_prefixes() -> None:
    text = exercised().render().decode()
    typed = set(re.findall(r"^# TYPE (\S+) ", text, flags=re.MULTILINE))
    # prometheus_client's `*_created` timestamps are standard companions, not names of ours.
    typed = {name for name in typed if not name.endswith("_created")}
    assert typed == {
        "bounced_messages_received_total",
        "bounced_messages_deleted_total",
        "bounced_decisions_total",
        "bounced_messages_quarantined_total",
        "bounced_batch_seconds",
        "bounced_notification_lag_seconds",
        "bounced_retries_scheduled_total",
        "bounced_retries_released_total",
        "bounced_retries_pending",
        "bounced_recipients",
        "bounced_queue_messages",
        "bounced_errors_total",
        "bounced_ses_suppression_pending",
        "bounced_ses_suppression_calls_total",
        "bounced_build_info",
    }


def test_counters_and_gauges_hold_what_was_reported() -> None:
    s = samples(exercised())
    assert s[("bounced_messages_received_total", (("queue", "bounce"),))] == 11
    assert s[("bounced_messages_deleted_total", (("queue", "bounce"),))] == 9
    assert s[("bounced_decisions_total", (("action", "suppress"), ("kind", "bounce")))] == 2
    assert s[("bounced_messages_quarantined_total", (("queue", "complaint"), ("reason", "bad_json")))] == 1
    assert s[("bounced_retries_scheduled_total", (("cause", "MailboxFull"),))] == 1
    assert s[("bounced_retries_released_total", ())] == 4
    assert s[("bounced_retries_pending", ())] == 7
    assert s[("bounced_queue_messages", (("queue", "bounce-dlq"), ("state", "visible")))] == 3
    assert s[("bounced_ses_suppression_calls_total", (("operation", "put"), ("result", "ok")))] == 2
    assert s[("bounced_ses_suppression_calls_total", (("operation", "put"), ("result", "throttled")))] == 1
    assert s[("bounced_ses_suppression_pending", ())] == 5
    assert s[("bounced_queue_messages", (("queue", "bounce-dlq"), ("state", "in_flight")))] == 1
    assert s[("bounced_errors_total", (("component", "store"),))] == 1
    assert s[("bounced_build_info", (("version", "9.9.9"),))] == 1
    assert s[("bounced_batch_seconds_count", ())] == 1
    assert s[("bounced_notification_lag_seconds_bucket", (("le", "5.0"),))] == 1
    assert s[("bounced_notification_lag_seconds_bucket", (("le", "2.5"),))] == 0


def test_lag_buckets_reach_a_day() -> None:
    s = samples(exercised())
    assert ("bounced_notification_lag_seconds_bucket", (("le", "0.1"),)) in s
    assert ("bounced_notification_lag_seconds_bucket", (("le", "86400.0"),)) in s


def test_recipient_statuses_absent_from_an_update_drop_to_zero() -> None:
    m = Metrics()
    m.set_recipients({"suppressed": 3, "review": 1})
    m.set_recipients({"active": 8})
    s = samples(m)
    assert s[("bounced_recipients", (("status", "active"),))] == 8
    assert s[("bounced_recipients", (("status", "suppressed"),))] == 0
    assert s[("bounced_recipients", (("status", "review"),))] == 0
    assert s[("bounced_recipients", (("status", "deferred"),))] == 0


def test_instances_do_not_share_counts() -> None:
    first, second = Metrics(), Metrics()
    first.received("bounce", 5)
    assert ("bounced_messages_received_total", (("queue", "bounce"),)) not in samples(second)


def test_negative_lag_counts_as_zero() -> None:
    m = Metrics()
    m.observe_lag(-2.0)
    assert samples(m)[("bounced_notification_lag_seconds_sum", ())] == 0


def test_content_type_is_prometheus_text() -> None:
    assert Metrics().content_type.startswith("text/plain; version=0.0.4")


def _causes(metrics: Metrics) -> dict[str, float]:
    return {
        dict(labels)["cause"]: value
        for (name, labels), value in samples(metrics).items()
        if name == "bounced_retries_scheduled_total"
    }


def test_the_cause_label_is_a_configured_window_name_or_default() -> None:
    policy = RetryPolicy.from_mapping({"Greylisted": ["5m"], "default": ["1h"]})
    m = Metrics(policy=policy)
    m.retry_scheduled("Greylisted")
    m.retry_scheduled("MailboxFull", 2)
    m.retry_scheduled("DeliveryDelay.General")  # the DeliveryDelay windows apply
    m.retry_scheduled("DeliveryDelay.MailboxFull")
    m.retry_scheduled("default")
    for n, hostile in enumerate(["x" * 200, "Made\x1bUp", "OutOfOffice", "Greylisted2"]):
        m.retry_scheduled(f"{hostile}-{n}")
    assert _causes(m) == {
        "Greylisted": 1,
        "MailboxFull": 2,
        "DeliveryDelay": 1,
        "DeliveryDelay.MailboxFull": 1,
        "default": 5,
    }


def test_the_daemon_labels_causes_by_its_configured_windows() -> None:
    env = {"BOUNCED_BOUNCE_QUEUE_URL": "http://127.0.0.1:1/000000000000/b", "AWS_REGION": "us-east-1"}
    settings = replace(load_settings(env), retry={"windows": {"Greylisted": ["5m"]}})
    daemon = Daemon(settings=settings, environ=env)
    clock = ManualClock(datetime(2026, 3, 2, tzinfo=UTC))
    summary = CommitSummary(retries_scheduled={"Greylisted": 1, "Unheard.Of": 3})
    DaemonObserver(daemon.metrics, Heartbeats(), clock).committed("bounce", summary, 0.1, clock.now())
    assert _causes(daemon.metrics) == {"Greylisted": 1, "default": 3}
