from __future__ import annotations

import json
from pathlib import Path

import pytest

from bounced.core import reasons
from bounced.core.reasons import Reason, reason_for, says_nonexistent


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


@pytest.mark.parametrize(
    ("first", "second", "reason"),
    [
        ("Access denied,", "sending domain x.example does not pass DMARC verification", Reason.AUTH_FAILURE),
        ("Recipient address rejected:", "Greylisted for 5 minutes", Reason.POLICY_OR_SPAM_BLOCK),
        ("content rejected,", "UBE", Reason.POLICY_OR_SPAM_BLOCK),
        ("Host or domain name not found.", "Host not found, try again", Reason.NETWORK),
        ("invalid mailbox:", "account is disabled", Reason.MAILBOX_DISABLED),
        ("Connection timed out;", "giving up", Reason.EXPIRED),
    ],
)
def test_the_specific_phrase_wins_wherever_it_stands(first: str, second: str, reason: Reason) -> None:
    assert reason_for("5.0.0", f"smtp; 550 {first} {second}") is reason
    assert reason_for("5.0.0", f"smtp; 550 {second}; {first}") is reason


def test_a_code_in_the_text_outranks_a_generic_status() -> None:
    for generic in ("5.0.0", "5.5.0", "4.0.0", "5.7.0", None):
        assert reason_for(generic, "smtp; 550 5.7.23 rejected") is Reason.AUTH_FAILURE
    assert reason_for("5.1.1", "smtp; 550 5.2.2 something") is Reason.USER_UNKNOWN  # a specific status stays


def test_an_ip_address_is_not_a_status_code() -> None:
    assert reason_for(None, "smtp; 550 mail from 4.2.2.1 not delivered") is Reason.UNKNOWN  # not 4.2.2
    assert reason_for("5.0.0", "smtp; 550 host 5.1.1.7 said no") is Reason.UNKNOWN


def test_the_reply_code_speaks_when_nothing_else_does() -> None:
    assert reason_for("5.0.0", "smtp; 556 sorry") is Reason.HOST_UNKNOWN
    assert reason_for("5.0.0", "smtp; 552 sorry") is Reason.MAILBOX_FULL
    assert reason_for("5.0.0", "smtp; 550 sorry") is Reason.UNKNOWN


def test_ses_suppression_outranks_the_status_it_reports() -> None:
    text = "Amazon SES has suppressed sending to this address because it has a recent history of bouncing"
    assert reason_for("5.1.1", text, hint="Suppressed") is Reason.SUPPRESSED
    assert (
        reason_for("5.1.1", "smtp; 550 5.1.1 user unknown", hint="OnAccountSuppressionList")
        is Reason.SUPPRESSED
    )


@pytest.mark.parametrize(
    ("status", "diagnostic"),
    [
        ("5.1.7", "smtp; 553 5.1.7 Bad sender's mailbox address syntax"),
        ("5.1.8", "smtp; 553 5.1.8 <s@x.example>: Sender address rejected: Domain not found"),
        ("5.0.0", "smtp; 550 Domain of sender address s@x.example does not exist"),
        ("5.0.0", "smtp; 550 s@x.example has sent to too many recipients this hour"),
    ],
)
def test_a_refused_sender_is_not_an_unknown_recipient(status: str, diagnostic: str) -> None:
    assert reason_for(status, diagnostic) is Reason.SENDER_REJECTED
    assert not says_nonexistent(status, diagnostic)


@pytest.mark.parametrize(
    ("pattern", "needles"),
    [
        (r"user unknown|no such (?:user|mailbox)", {"user unknown", "no such "}),
        (r"(?:mail ?box|account) (?:is )?(?:full|over ?quota)", {"full", "quota"}),
        (r"timed? ?out\b|try again[^.]{0,40}host not found", {"time", "host not found"}),
        (r"4\.1 \[[^\]]+\]: recipient", {"]: recipient"}),
        (r"a(?:b|cd)?xyz", {"xyz"}),
    ],
)
def test_needles_are_literals_every_match_contains(pattern: str, needles: set[str]) -> None:
    assert reasons._needles(pattern) == frozenset(n.strip() for n in needles)


def test_a_rule_runs_only_when_its_needle_is_there() -> None:
    corpus = Path(__file__).parents[1] / "fixtures" / "diagnostics" / "diagnostics.jsonl"
    texts = [json.loads(line)["diagnostic"] or "" for line in corpus.read_text(encoding="utf-8").splitlines()]
    for text in (t.lower() for t in texts):
        for (_, _, rule), needles in zip(reasons._RULES, reasons._NEEDLES_OF, strict=True):
            if rule.search(text):
                assert any(needle in text for needle in needles), (rule.pattern, text)


def test_a_repeated_diagnostic_is_answered_from_the_cache() -> None:
    reasons._remembered.cache_clear()
    text = "smtp; 550 5.1.1 <a@example.org>: Recipient address rejected: User unknown"
    first = reason_for("5.1.1", text, hint="General")
    again = reason_for("5.1.1", text[:10] + text[10:], hint="General")  # an equal string, not the same
    info = reasons._remembered.cache_info()
    assert (first, again, info.misses, info.hits) == (Reason.USER_UNKNOWN, Reason.USER_UNKNOWN, 1, 1)


def test_the_cache_is_bounded_in_answers_and_in_text_length() -> None:
    reasons._remembered.cache_clear()
    for n in range(reasons.CACHE_ANSWERS + 10):
        assert reason_for("5.0.0", f"smtp; 550 5.0.0 user unknown (ref {n})") is Reason.USER_UNKNOWN
    assert reasons._remembered.cache_info().currsize == reasons.CACHE_ANSWERS
    reasons._remembered.cache_clear()
    long_text = "smtp; 550 5.0.0 " + "x" * reasons.CACHE_TEXT_MAX + " mailbox full"
    assert reason_for("5.0.0", long_text) is Reason.MAILBOX_FULL
    assert reasons._remembered.cache_info().currsize == 0
