from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bounced.core import samples
from bounced.core.classify import DEFAULT_RULES, Rules, classify
from bounced.core.model import Action, Decision, Kind
from bounced.core.parse import parse_body
from bounced.core.policy import RetryPolicy
from bounced.core.state import Event, RecipientState, transition


def decide(document: dict[str, Any], rules: Rules = DEFAULT_RULES) -> tuple[Decision, ...]:
    return classify(parse_body(samples.dumps(document).encode()), rules)


@pytest.mark.parametrize(
    ("bounce_type", "subtype", "action", "cause"),
    [
        ("Permanent", "General", Action.SUPPRESS, None),
        ("Permanent", "NoEmail", Action.SUPPRESS, None),
        ("Permanent", "Suppressed", Action.SUPPRESS, None),
        ("Permanent", "OnAccountSuppressionList", Action.SUPPRESS, None),
        ("Permanent", "SomethingNew", Action.SUPPRESS, None),
        ("Transient", "General", Action.RETRY, "General"),
        ("Transient", "MailboxFull", Action.RETRY, "MailboxFull"),
        ("Transient", "MessageTooLarge", Action.REVIEW, None),
        ("Transient", "ContentRejected", Action.REVIEW, None),
        ("Transient", "AttachmentRejected", Action.REVIEW, None),
        ("Transient", "SomethingNew", Action.REVIEW, None),
        ("Undetermined", "Undetermined", Action.REVIEW, None),
        ("Sideways", "General", Action.REVIEW, None),
    ],
)
def test_bounce_table(bounce_type: str, subtype: str, action: Action, cause: str | None) -> None:
    for event in (False, True):
        document = samples.bounce(
            ["a@example.com", "b@example.com"],
            bounce_type=bounce_type,
            subtype=subtype,
            status=None,
            event=event,
        )
        decisions = decide(document)
        assert [d.address for d in decisions] == ["a@example.com", "b@example.com"]
        assert {(d.action, d.cause, d.escalate) for d in decisions} == {(action, cause, False)}
        assert all(d.reason for d in decisions)


def test_bounce_reason_comes_from_each_recipients_dsn() -> None:
    document = samples.bounce(["a@example.com", "b@example.com"])
    document["bounce"]["bouncedRecipients"][1].update(status="5.2.2", diagnosticCode="smtp; 552 5.2.2 full")
    assert [d.reason for d in decide(document)] == ["user-unknown", "mailbox-full"]


def test_suppressed_bounce_reason() -> None:
    (decision,) = decide(samples.bounce(subtype="OnAccountSuppressionList", status=None))
    assert decision.reason == "suppressed"


@pytest.mark.parametrize(
    ("feedback_type", "action"),
    [
        ("abuse", Action.SUPPRESS),
        ("auth-failure", Action.SUPPRESS),
        ("fraud", Action.SUPPRESS),
        ("other", Action.SUPPRESS),
        ("virus", Action.SUPPRESS),
        ("not-spam", Action.IGNORE),
        (None, Action.SUPPRESS),
    ],
)
def test_complaints(feedback_type: str | None, action: Action) -> None:
    (decision,) = decide(samples.complaint(feedback_type=feedback_type))
    assert (decision.action, decision.reason) == (action, "complaint")


def test_delivery_clears() -> None:
    decisions = decide(samples.delivery(["a@example.com", "b@example.com"], event=True))
    assert [(d.action, d.reason) for d in decisions] == [(Action.CLEAR, "delivered")] * 2


@pytest.mark.parametrize(
    ("delay_type", "action"),
    [
        ("MailboxFull", Action.RETRY),
        ("RecipientServerError", Action.RETRY),
        ("InternalFailure", Action.IGNORE),
        ("General", Action.IGNORE),
        ("SpamDetected", Action.IGNORE),
        ("IPFailure", Action.IGNORE),
        ("TransientCommunicationFailure", Action.IGNORE),
        ("BYOIPHostNameLookupUnavailable", Action.IGNORE),
        ("Undetermined", Action.IGNORE),
        ("SendingDeferral", Action.IGNORE),
    ],
)
def test_delivery_delays(delay_type: str, action: Action) -> None:
    (decision,) = decide(samples.delivery_delay(delay_type=delay_type))
    assert decision.action is action
    assert decision.cause == (f"DeliveryDelay.{delay_type}" if action is Action.RETRY else None)


@pytest.mark.parametrize(
    "document",
    [
        samples.send_event(),
        samples.reject_event(),
        samples.open_event(),
        samples.click_event(),
        samples.rendering_failure_event(),
        samples.subscription_event(),
    ],
)
def test_kinds_without_recipients_give_one_ignore(document: dict[str, Any]) -> None:
    (decision,) = decide(document)
    assert decision == Decision(action=Action.IGNORE, address=None, reason=decision.reason)
    assert decision.reason == parse_body(samples.dumps(document).encode()).kind.value


def test_subscription_confirmation_is_ignored() -> None:
    (decision,) = classify(parse_body(samples.subscription_confirmation().encode()))
    assert (decision.action, decision.address) == (Action.IGNORE, None)


def test_escalation_is_off_by_default() -> None:
    document = samples.bounce(bounce_type="Transient", subtype="General", status="5.1.1")
    (decision,) = decide(document)
    assert (decision.action, decision.escalate, decision.reason) == (Action.RETRY, False, "user-unknown")


def test_escalation_suppresses_transient_nonexistent() -> None:
    rules = Rules.from_mapping({"escalate_nonexistent": True})
    nonexistent = samples.bounce(
        bounce_type="Transient",
        subtype="General",
        status="5.1.2",
        diagnostic="smtp; 550 5.1.2 host not found",
    )
    (decision,) = decide(nonexistent, rules)
    assert (decision.action, decision.escalate, decision.reason) == (Action.SUPPRESS, True, "host-unknown")
    full = samples.bounce(bounce_type="Transient", subtype="MailboxFull", status="4.2.2", diagnostic="full")
    (decision,) = decide(full, rules)
    assert (decision.action, decision.escalate) == (Action.RETRY, False)


def test_escalation_leaves_permanent_bounces_alone() -> None:
    (decision,) = decide(samples.bounce(), Rules.from_mapping({"escalate_nonexistent": True}))
    assert (decision.action, decision.escalate) == (Action.SUPPRESS, False)


def test_rules_merge_over_defaults() -> None:
    rules = Rules.from_mapping(
        {
            "bounce": {"Transient.MessageTooLarge": "ignore", "Permanent.Suppressed": "review"},
            "complaint": {"abuse": "review"},
            "delivery_delay": {"*": "review"},
            "kind": {"delivery": "ignore"},
        }
    )
    assert rules.bounce["Transient.MessageTooLarge"] is Action.IGNORE
    assert rules.bounce["Permanent.*"] is Action.SUPPRESS  # default kept
    (decision,) = decide(samples.bounce(subtype="Suppressed", status=None), rules)
    assert decision.action is Action.REVIEW
    (decision,) = decide(samples.complaint(feedback_type="abuse"), rules)
    assert decision.action is Action.REVIEW
    (decision,) = decide(samples.delivery_delay(delay_type="General"), rules)
    assert decision.action is Action.REVIEW
    (decision,) = decide(samples.delivery(), rules)
    assert decision.action is Action.IGNORE
    assert Rules.from_mapping({}) == DEFAULT_RULES


@pytest.mark.parametrize(
    ("mapping", "names"),
    [
        ({"bounces": {}}, "'bounces'"),
        ({"escalate_nonexistent": "yes"}, "escalate_nonexistent"),
        ({"bounce": []}, "rules.bounce"),
        ({"bounce": {"Permanant.*": "suppress"}}, "Permanant.*"),
        ({"bounce": {"Transient": "retry"}}, "'Transient'"),
        ({"bounce": {"Transient.General": "later"}}, "Transient.General"),
        ({"bounce": {"Transient.General": "clear"}}, "Transient.General"),
        ({"complaint": {"abuse": "retry"}}, "abuse"),
        ({"complaint": {"": "ignore"}}, "rules.complaint"),
        ({"delivery_delay": {"MailboxFull": "suppress"}}, "MailboxFull"),
        ({"kind": {"bounce": "ignore"}}, "'bounce'"),
        ({"kind": {"open": 1}}, "'open'"),
    ],
)
def test_rules_reject_what_they_do_not_know(mapping: dict[str, Any], names: str) -> None:
    with pytest.raises(ValueError, match="rules") as caught:
        Rules.from_mapping(mapping)
    assert names in str(caught.value)


def test_kind_table_covers_every_kind_without_its_own_table() -> None:
    assert set(DEFAULT_RULES.kind) == {k.value for k in Kind} - {"bounce", "complaint", "delivery_delay"}


@pytest.mark.parametrize(
    "diagnostic",
    [
        "Automatic reply: I am out of the office until Monday",
        "Auto-Reply: your request has been received",
        "I am on vacation until 15 August",
        "Out of Office: back on the 3rd",
    ],
)
def test_an_auto_reply_never_adds_to_the_soft_bounce_streak(diagnostic: str) -> None:
    policy = RetryPolicy(windows={"General": (timedelta(hours=1),) * 3}, jitter=0.0)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    before = RecipientState("recipient@example.org", soft_bounce_streak=2, since=at)

    def streak_after(status: str | None, text: str) -> int:
        document = samples.bounce(bounce_type="Transient", subtype="General", status=status, diagnostic=text)
        notification = parse_body(samples.dumps(document).encode())
        (decision,) = classify(notification, Rules.from_mapping({"escalate_nonexistent": True}))
        event = Event(event_id=1, decision=decision, notification=notification)
        after = transition(before, event, policy=policy, now=at + timedelta(days=1), jitter_unit=0.0)
        assert after.effects == () or decision.reason != "auto-reply"
        return after.state.soft_bounce_streak

    assert streak_after("4.0.0", "smtp; 421 4.4.2 Connection timed out") == 3  # a real soft bounce counts
    assert streak_after("5.0.0", diagnostic) == 2
    (decision,) = decide(samples.bounce(bounce_type="Transient", subtype="General", status=None))
    assert decision.action is Action.RETRY  # no text: today's table entry
    document = samples.bounce(
        bounce_type="Transient", subtype="General", status="5.0.0", diagnostic=diagnostic
    )
    (decision,) = decide(document)
    assert (decision.action, decision.reason, decision.cause) == (Action.IGNORE, "auto-reply", None)
