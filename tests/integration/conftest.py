"""Integration fixtures: a migrated database and a store over it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bounced.policy import DEFAULT_POLICY
from bounced.store import Store
from tests.support.outcomes import migrated_store


@pytest.fixture
def store_dsn(empty_database: str) -> str:
    """The DSN of the test's database (migrated once the `store` fixture is used)."""
    return empty_database


@pytest.fixture
async def store(store_dsn: str) -> AsyncIterator[Store]:
    """A Store over a freshly migrated database, with no jitter."""
    async with migrated_store(store_dsn, DEFAULT_POLICY, max_size=10) as opened:
        yield opened
