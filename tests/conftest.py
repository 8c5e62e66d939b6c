"""Fixtures shared by every test tier: a real PostgreSQL and a real (moto) AWS endpoint on loopback."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from bounced.core.policy import DEFAULT_POLICY
from bounced.db.migrate import migrate_database
from bounced.db.store import Store
from bounced.demo.embedded import emulator
from bounced.ingest.provision import FeedbackWiring
from tests.support import aws as moto_support
from tests.support import postgres, testenv  # noqa: F401 (testenv: read test switches first)
from tests.support.feedback import Aws, aws_clients, wire
from tests.support.outcomes import migrated_store


@pytest.fixture(scope="session")
def pg_admin_dsn() -> Iterator[str]:
    """An admin DSN of the session's PostgreSQL server (BOUNCED_TEST_DSN or a throwaway)."""
    with postgres.server_dsn() as dsn:
        yield dsn


@pytest.fixture
async def empty_database(pg_admin_dsn: str) -> AsyncIterator[str]:
    """A new empty database for one test, dropped afterwards."""
    dsn = await postgres.create_database(pg_admin_dsn)
    yield dsn
    await postgres.drop_database(pg_admin_dsn, dsn)


@pytest.fixture
async def migrated(empty_database: str) -> str:
    """A migrated database for one test; its DSN."""
    await migrate_database(empty_database)
    return empty_database


@pytest.fixture
def store_dsn(empty_database: str) -> str:
    """The DSN of the test's database (migrated once the `store` fixture is used)."""
    return empty_database


@pytest.fixture
async def store(store_dsn: str) -> AsyncIterator[Store]:
    """A Store over a freshly migrated database, with no jitter."""
    async with migrated_store(store_dsn, DEFAULT_POLICY, max_size=10) as opened:
        yield opened


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """The endpoint URL of a moto server on 127.0.0.1 for the whole session."""
    with emulator() as endpoint:  # the demo's own: moto on 127.0.0.1, a free port
        yield endpoint


@pytest.fixture
async def aws(aws_env: str) -> AsyncIterator[Aws]:
    """aiobotocore SNS and SQS clients on a clean moto."""
    async with aws_clients(aws_env) as clients:
        yield clients


@pytest.fixture
async def wiring(aws: Aws) -> FeedbackWiring:
    """Topics, queues, DLQs and subscriptions as production has them; complaints arrive raw (SNS raw
    message delivery), bounces and deliveries SNS-wrapped."""
    return await wire(aws, raw_delivery={"complaint": True})


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A clean moto and the environment that points botocore at it; returns the endpoint."""
    moto_support.reset_moto(moto_endpoint)
    for name, value in moto_support.FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    return moto_endpoint


_LOCAL_NAMES = {"localhost", "127.0.0.1", "::1", "", None}


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse, in this process, any name lookup that could lead off this machine: tests talk to
    127.0.0.1 only. (Subprocesses are pointed at loopback endpoints explicitly.)"""
    real_getaddrinfo = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in _LOCAL_NAMES and not str(name).startswith("127."):
            raise OSError(f"tests may not contact {name!r}: loopback only")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
