"""The send-gate's answer shape and its address normalisation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bounced.core.model import Status
from bounced.core.sendgate import RecipientAnswer, answer_json, normalise_address


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("User@Example.COM", "user@example.com"),
        ("  a+b@x.io\n", "a+b@x.io"),
        ('"odd@local"@example.com', '"odd@local"@example.com'),
        ("Ünï@bücher.de", "ünï@bücher.de"),
        ("Jane Doe <Jane@Example.org>", "jane@example.org"),  # the key the parser stores
    ],
)
def test_normalise_address(raw: str, expected: str) -> None:
    assert normalise_address(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "plain",
        "@example.com",
        "user@",
        "a b@example.com",
        "a\x00@example.com",
        "a@" + "x" * 320,
        "a@" + "x" * 253,
    ],
)
def test_normalise_address_rejects(raw: str) -> None:
    with pytest.raises(ValueError, match="not an e-mail address"):
        normalise_address(raw)


@pytest.mark.parametrize(
    ("status", "sendable"),
    [(Status.ACTIVE, True), (Status.DEFERRED, False), (Status.REVIEW, False), (Status.SUPPRESSED, False)],
)
def test_only_active_is_sendable(status: Status, sendable: bool) -> None:
    assert RecipientAnswer("a@b.c", status).sendable is sendable


def test_answer_json_for_known_and_unknown() -> None:
    retry = datetime(2026, 1, 1, 4, tzinfo=UTC)
    known = RecipientAnswer("a@b.c", Status.DEFERRED, reason="mailbox-full", retry_at=retry)
    assert answer_json("a@b.c", known) == {
        "address": "a@b.c",
        "sendable": False,
        "status": "deferred",
        "reason": "mailbox-full",
        "retry_at": "2026-01-01T04:00:00+00:00",
    }
    assert answer_json("n@b.c", None)["sendable"] is True
    assert answer_json("n@b.c", None)["status"] is None
