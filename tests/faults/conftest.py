"""Fixtures of the fault-injection tier: moto wiring, migrated databases, a PostgreSQL that may be
stopped, and a pausable proxy in front of moto."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from bounced.db.migrate import migrate_database
from bounced.ingest.provision import FeedbackWiring
from tests.support import postgres
from tests.support.feedback import Aws, wire
from tests.support.stoppable_postgres import StoppablePostgres, stoppable_postgres
from tests.support.tcp_proxy import PausableProxy, pausable_proxy


@pytest.fixture
async def wiring(aws: Aws) -> FeedbackWiring:
    """Topics, queues with DLQs and SNS-wrapped subscriptions (raw bodies go straight on the queues)."""
    return await wire(aws)


@pytest.fixture(scope="session")
def stoppable_server() -> Iterator[StoppablePostgres]:
    """A throwaway cluster of the session that tests stop and start (see tests/support)."""
    with stoppable_postgres() as server:
        yield server


@pytest.fixture
async def stoppable_pg(stoppable_server: StoppablePostgres) -> AsyncIterator[tuple[StoppablePostgres, str]]:
    """The stoppable cluster (started) and a migrated database of its own on it."""
    if not stoppable_server.is_running():
        stoppable_server.start()
    dsn = await postgres.create_database(stoppable_server.dsn)
    await migrate_database(dsn)
    yield stoppable_server, dsn
    if not stoppable_server.is_running():
        stoppable_server.start()
    await postgres.drop_database(stoppable_server.dsn, dsn)


@pytest.fixture
def moto_proxy(aws_env: str) -> Iterator[PausableProxy]:
    """A pausable TCP proxy in front of moto."""
    with pausable_proxy(aws_env) as proxy:
        yield proxy
