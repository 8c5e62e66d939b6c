"""Driving the admin CLI in-process against a real, migrated PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
import pytest

from bounced.cli import main
from bounced.core.model import Outcome
from bounced.core.policy import DEFAULT_POLICY
from bounced.db.store import Store
from tests.support.outcomes import migrated_store

T = TypeVar("T")


class Cli:
    """`bounced ...` in this process, with its exit code and output."""

    def __init__(self, dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.dsn = dsn
        self._capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self._capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's usage errors
            code = int(exc.code or 0)
        out, err = self._capsys.readouterr()
        return code, out, err

    def with_store(self, action: Callable[[Store], Awaitable[T]]) -> T:
        """Run `action` against the database (outside the CLI's own event loop)."""

        async def run() -> T:
            async with migrated_store(self.dsn, DEFAULT_POLICY) as store:
                return await action(store)

        return asyncio.run(run())

    def commit(self, outcomes: Sequence[Outcome], now: datetime) -> None:
        """Feed outcomes to the store as the consumer would."""

        async def run(store: Store) -> None:
            await store.commit(outcomes, now)

        self.with_store(run)

    def fetch(self, query: str, *params: Any) -> list[asyncpg.Record]:
        """Rows of a query on the test database."""

        async def run() -> list[asyncpg.Record]:
            conn = await asyncpg.connect(self.dsn)
            try:
                return list(await conn.fetch(query, *params))
            finally:
                await conn.close()

        return asyncio.run(run())
