"""Which store failures are worth another try (PostgreSQL or the connection) and which are not."""

from __future__ import annotations

import asyncpg
import pytest

from bounced.db.store import is_transient_error


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.InternalClientError(
            "cannot switch to state 15; another operation (2) is in progress"
        ),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.exceptions.CannotConnectNowError("the database system is shutting down"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
        ConnectionRefusedError(111, "Connection refused"),
    ],
)
def test_a_failed_connection_or_server_is_transient(error: BaseException) -> None:
    assert is_transient_error(error)


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.CharacterNotInRepertoireError("invalid byte sequence"),
        asyncpg.exceptions.UntranslatableCharacterError("unsupported Unicode escape sequence"),
        ValueError("a bug"),
    ],
)
def test_a_refused_statement_is_not(error: BaseException) -> None:
    assert not is_transient_error(error)
