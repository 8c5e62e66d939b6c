from __future__ import annotations

import pytest

from bounced.reasons import Reason, reason_for, says_nonexistent


@pytest.mark.parametrize(
    ("status", "diagnostic", "hint", "reason"),
    [
        ("5.1.1", "smtp; 550 5.1.1 user unknown", None, Reason.USER_UNKNOWN),
        (
            "5.1.1",
            "smtp; 550-5.1.1 The email account that you tried to reach does not exist.",
            None,
            Reason.USER_UNKNOWN,
        ),
        (None, "smtp; 550 5.1.1 <x@y>: Recipient address rejected", None, Reason.USER_UNKNOWN),
        ("5.0.0", "smtp; 550 Requested action not taken: mailbox unavailable", None, Reason.USER_UNKNOWN),
        ("5.1.10", "smtp; 550 5.1.10 RESOLVER.ADR.RecipientNotFound; not found", None, Reason.USER_UNKNOWN),
        ("5.1.2", "smtp; 550 5.1.2 bad destination system", None, Reason.HOST_UNKNOWN),
        ("5.4.4", "smtp; 550 5.4.4 Unable to route", None, Reason.HOST_UNKNOWN),
        ("5.0.0", "smtp; 550 Host or domain name not found", None, Reason.HOST_UNKNOWN),
        ("5.0.0", "domain does not exist", None, Reason.HOST_UNKNOWN),
        ("5.2.2", "smtp; 552 5.2.2 Mailbox full", None, Reason.MAILBOX_FULL),
        (
            "4.2.2",
            "smtp; 452 4.2.2 The email account that you tried to reach is over quota",
            None,
            Reason.MAILBOX_FULL,
        ),
        ("5.0.0", "smtp; 552 Quota exceeded", None, Reason.MAILBOX_FULL),
        (
            "5.2.1",
            "smtp; 550 5.2.1 The email account that you tried to reach is disabled.",
            None,
            Reason.MAILBOX_DISABLED,
        ),
        (
            "4.2.1",
            "smtp; 450 4.2.1 The user you are trying to contact is receiving mail at a rate",
            None,
            Reason.POLICY_OR_SPAM_BLOCK,
        ),
        ("5.3.4", "smtp; 552 5.3.4 Message size exceeds fixed limit", None, Reason.MESSAGE_TOO_LARGE),
        ("5.2.3", "smtp; 552 5.2.3 message too big", None, Reason.MESSAGE_TOO_LARGE),
        (
            "5.7.1",
            "smtp; 554 5.7.1 Service unavailable; client host blocked using Spamhaus",
            None,
            Reason.POLICY_OR_SPAM_BLOCK,
        ),
        ("5.7.1", "smtp; 550 5.7.1 Message rejected as spam", None, Reason.POLICY_OR_SPAM_BLOCK),
        (
            "5.7.26",
            "smtp; 550 5.7.26 Unauthenticated email is not accepted due to DMARC",
            None,
            Reason.AUTH_FAILURE,
        ),
        ("5.6.0", "smtp; 554 5.6.0 Message contains a virus", None, Reason.CONTENT_REJECTED),
        ("5.6.1", "smtp; 554 5.6.1 media not supported", None, Reason.CONTENT_REJECTED),
        ("4.4.7", "smtp; 421 4.4.7 Delivery time expired", None, Reason.EXPIRED),
        ("5.0.0", "Message expired after 24 hours", None, Reason.EXPIRED),
        ("4.4.1", "smtp; 421 4.4.1 Connection timed out", None, Reason.NETWORK),
        ("4.4.2", "smtp; 421 4.4.2 bad connection", None, Reason.NETWORK),
        (None, "Automatic reply: I am out of the office until Monday", None, Reason.AUTO_REPLY),
        (None, None, None, Reason.UNKNOWN),
        ("5.0.0", "smtp; 550 sorry", None, Reason.UNKNOWN),
        (None, None, "Suppressed", Reason.SUPPRESSED),
        (None, None, "OnAccountSuppressionList", Reason.SUPPRESSED),
        (None, None, "NoEmail", Reason.USER_UNKNOWN),
        (None, None, "MailboxFull", Reason.MAILBOX_FULL),
        (None, None, "MessageTooLarge", Reason.MESSAGE_TOO_LARGE),
        (None, None, "ContentRejected", Reason.CONTENT_REJECTED),
        (None, None, "AttachmentRejected", Reason.CONTENT_REJECTED),
        (None, None, "SpamDetected", Reason.POLICY_OR_SPAM_BLOCK),
        (None, None, "General", Reason.UNKNOWN),
        ("5.1.1", None, "MailboxFull", Reason.USER_UNKNOWN),  # the DSN outranks SES's subtype
    ],
)
def test_reason_for(status: str | None, diagnostic: str | None, hint: str | None, reason: Reason) -> None:
    assert reason_for(status, diagnostic, hint=hint) is reason


def test_says_nonexistent() -> None:
    assert says_nonexistent("5.1.1", None)
    assert says_nonexistent(None, "smtp; 550 No such domain")
    assert not says_nonexistent("4.2.2", "mailbox full")
    assert not says_nonexistent(None, None)
    assert not says_nonexistent(None, "smtp; 550 5.2.1 account disabled")
