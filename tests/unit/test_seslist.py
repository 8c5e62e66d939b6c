"""Which state changes ask for a call to SES's suppression list, and the state an import sets."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from bounced.core import manual, seslist
from bounced.core.model import Status
from bounced.core.seslist import SesCall, call_for, imported
from bounced.core.state import RecipientState

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
ACTIVE = RecipientState(address="a@example.com", status=Status.ACTIVE, kind="delivery", event_id=1)
BOUNCED = replace(ACTIVE, status=Status.SUPPRESSED, kind="bounce", reason="user-unknown", event_id=2)


def test_becoming_suppressed_by_a_bounce_puts_it_with_reason_bounce() -> None:
    assert call_for(ACTIVE, BOUNCED) == SesCall("a@example.com", "put", "BOUNCE", 2)
    assert call_for(None, BOUNCED) == SesCall("a@example.com", "put", "BOUNCE", 2)


def test_a_complaint_puts_it_with_reason_complaint() -> None:
    complained = replace(BOUNCED, kind="complaint", reason="abuse")
    assert call_for(ACTIVE, complained) == SesCall("a@example.com", "put", "COMPLAINT", 2)


def test_an_escalation_or_a_person_puts_it_with_reason_bounce() -> None:
    deferred = replace(ACTIVE, status=Status.DEFERRED, kind="bounce", retry_at=T0)
    escalated = replace(BOUNCED, escalated=True)
    assert call_for(deferred, escalated) == SesCall("a@example.com", "put", "BOUNCE", 2)
    by_hand = manual.suppressed(ACTIVE, address="a@example.com", now=T0)
    assert by_hand is not None
    assert call_for(ACTIVE, by_hand) == SesCall("a@example.com", "put", "BOUNCE", None)


def test_leaving_suppressed_deletes_it() -> None:
    lifted = manual.activated(BOUNCED, now=T0)
    assert lifted is not None
    assert call_for(BOUNCED, lifted) == SesCall("a@example.com", "delete", None, None)


def test_no_change_or_a_change_within_a_side_asks_nothing() -> None:
    assert call_for(BOUNCED, None) is None
    assert call_for(ACTIVE, replace(ACTIVE, status=Status.DEFERRED, retry_at=T0)) is None
    assert call_for(BOUNCED, replace(BOUNCED, last_delivery_at=T0)) is None


def test_an_address_read_from_ses_is_not_pushed_back() -> None:
    listed = imported(ACTIVE, address="a@example.com", ses_reason="COMPLAINT", now=T0)
    assert listed is not None
    assert (listed.status, listed.kind, listed.reason) == (
        Status.SUPPRESSED,
        seslist.SES_LIST_KIND,
        "complaint",
    )
    assert call_for(ACTIVE, listed) is None


def test_an_import_keeps_a_suppression_and_creates_unknown_addresses() -> None:
    assert imported(BOUNCED, address="a@example.com", ses_reason="BOUNCE", now=T0) is None
    new = imported(None, address="b@example.com", ses_reason="BOUNCE", now=T0)
    assert new is not None
    assert (new.address, new.status, new.reason, new.since) == (
        "b@example.com",
        Status.SUPPRESSED,
        "bounce",
        T0,
    )
