"""DSN lookup and redaction: a password never reaches an error message."""

from __future__ import annotations

import pytest

from bounced.dsn import database_url_from_env, redact, scrub


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("postgresql://bob:s3cret@db:5432/bounced", "postgresql://bob:***@db:5432/bounced"),
        ("postgresql://bob@db/bounced", "postgresql://bob@db/bounced"),
        ("postgresql://db/bounced?user=bob&password=s3cret", "postgresql://db/bounced?user=bob&password=***"),
        (None, "the PG* environment"),
    ],
)
def test_redact(dsn: str | None, shown: str) -> None:
    assert redact(dsn) == shown


def test_scrub_blanks_the_password_and_pgpassword(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASSWORD", "envpass")
    message = "failed for s3cret and envpass"
    assert scrub(message, "postgresql://bob:s3cret@db/x") == "failed for *** and ***"


def test_database_url_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BOUNCED_DATABASE_URL", raising=False)
    assert database_url_from_env() is None
    monkeypatch.setenv("BOUNCED_DATABASE_URL", "postgresql://db/x")
    assert database_url_from_env() == "postgresql://db/x"
