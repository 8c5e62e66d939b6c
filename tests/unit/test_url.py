"""DSN lookup and redaction: a password never reaches an error message."""

from __future__ import annotations

import pytest

from bounced.db.url import database_url_from_env, has_password, redact, scrub, without_password


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


@pytest.mark.parametrize(
    ("dsn", "bare"),
    [
        ("postgresql://bob:s3cret@db:5432/bounced", "postgresql://bob@db:5432/bounced"),
        ("postgresql://:s3cret@db/bounced", "postgresql://db/bounced"),
        ("postgresql://bob@db/bounced", "postgresql://bob@db/bounced"),
        (
            "postgresql://db/x?user=bob&password=s3cret&sslmode=require",
            "postgresql://db/x?user=bob&sslmode=require",
        ),
        ("postgresql://db/x?Password=s3cret", "postgresql://db/x"),
    ],
)
def test_without_password(dsn: str, bare: str) -> None:
    assert without_password(dsn) == bare
    assert has_password(dsn) == (dsn != bare)


def test_an_empty_password_is_no_password() -> None:
    # What pgserver (the demo's embedded PostgreSQL) hands out.
    dsn = "postgresql://postgres:@/postgres?host=/tmp/pg"
    assert not has_password(dsn)
    assert without_password(dsn) == "postgresql://postgres@/postgres?host=/tmp/pg"
