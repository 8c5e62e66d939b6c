"""The demo's campaign covers what the issue promises, and every message reads as intended."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from bounced.core.classify import classify
from bounced.core.model import Action, ReadError
from bounced.demo.campaign import campaign
from bounced.ingest.reader import read_message

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


async def _decisions() -> dict[str, list[Action]]:
    found: dict[str, list[Action]] = {}
    for item in campaign(NOW):
        if item.direct:
            continue
        notification = await read_message(item.body.encode(), verifier=None)
        assert notification.occurred_at <= NOW
        assert notification.occurred_at > NOW - timedelta(minutes=2)
        for decision in classify(notification):
            assert decision.address is not None
            found.setdefault(decision.address, []).append(decision.action)
    return found


def test_every_documented_bounce_pair_is_there() -> None:
    labels = {item.label for item in campaign(NOW)}
    for pair in (
        "Permanent/General",
        "Permanent/NoEmail",
        "Permanent/Suppressed",
        "Permanent/OnAccountSuppressionList",
        "Transient/General",
        "Transient/MailboxFull",
        "Transient/MessageTooLarge",
        "Transient/ContentRejected",
        "Transient/AttachmentRejected",
        "Undetermined/Undetermined",
    ):
        assert f"Bounce {pair}" in labels


def test_complaints_deliveries_delays_and_the_special_cases() -> None:
    labels = [item.label for item in campaign(NOW)]
    kinds = Counter(label.split()[0] for label in labels)
    assert kinds["Complaint"] == 5
    assert {"DeliveryDelay MailboxFull", "DeliveryDelay InternalFailure"} <= set(labels)
    assert any("(duplicate)" in label for label in labels)
    assert labels.index("Delivery (newer, arrives first)") < labels.index(
        "Bounce Transient/General (older, arrives last)"
    )


async def test_the_poison_message_is_unreadable_and_sent_straight_to_a_queue() -> None:
    poison = [item for item in campaign(NOW) if item.direct]
    assert len(poison) == 1
    with pytest.raises(ReadError):
        await read_message(poison[0].body.encode(), verifier=None)


async def test_every_action_is_exercised() -> None:
    actions = {action for found in (await _decisions()).values() for action in found}
    assert actions == set(Action)


def test_runs_get_distinct_ses_ids() -> None:
    first = {item.body for item in campaign(NOW, run="0001") if not item.direct}
    second = {item.body for item in campaign(NOW, run="0002") if not item.direct}
    assert not first & second
