"""Each row type is spelled once in Python; the migrated schema and `write_batch` must agree with it.

A row type lives in three places the code cannot derive from one another: the Python value the
store sends (a named tuple, or `RecipientState`), the composite input type `write_batch` takes, and
the table it feeds. These tests hold the three to one order, so adding a column is a migration plus
one field, and forgetting either fails here.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, fields

import asyncpg
import pytest

from bounced.core.batch import (
    STATE_INPUT_FIELDS,
    EventInput,
    NotificationInput,
    QuarantineInput,
    RetryInput,
)
from bounced.core.state import RecipientState
from bounced.db.queries import sql

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class RowType:
    """A composite input type, the Python fields that fill it, and the table it feeds."""

    type_name: str
    python: tuple[str, ...]
    table: str
    # Attributes of the type that are not columns: references the statement resolves.
    input_only: frozenset[str] = frozenset()
    # Columns of the table `write_batch` fills itself ("now", the ids it resolves).
    by_statement: frozenset[str] = frozenset()
    # Columns other commands fill later (the scheduler, the quarantine commands).
    later: frozenset[str] = frozenset()


ROW_TYPES = [
    RowType(
        "bounced_event_input",
        EventInput._fields,
        "events",
        input_only=frozenset({"notification_ref", "provisional_id"}),
        by_statement=frozenset({"recorded_at", "notification_id"}),
    ),
    RowType(
        "bounced_notification_input",
        NotificationInput._fields,
        "notifications",
        by_statement=frozenset({"recorded_at"}),
    ),
    RowType(
        "bounced_state_input",
        STATE_INPUT_FIELDS,
        "recipients",
        input_only=frozenset({"is_new"}),
        by_statement=frozenset({"updated_at"}),
    ),
    RowType(
        "bounced_retry_input",
        RetryInput._fields,
        "retries",
        by_statement=frozenset({"created_at"}),
        later=frozenset({"released_at", "cancelled_at", "announced_at"}),
    ),
    RowType(
        "bounced_quarantine_input",
        QuarantineInput._fields,
        "quarantine",
        by_statement=frozenset({"received_at"}),
        later=frozenset({"replayed_at", "discarded_at"}),
    ),
]

_ATTRIBUTES = """
SELECT a.attname FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid
WHERE c.relname = $1 AND c.relnamespace = 'public'::regnamespace AND a.attnum > 0
    AND NOT a.attisdropped
ORDER BY a.attnum
"""


@pytest.fixture
async def conn(migrated: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(migrated)
    try:
        yield connection
    finally:
        await connection.close()


async def _attributes(conn: asyncpg.Connection, relation: str) -> list[str]:
    """A table's columns or a composite type's attributes, in order."""
    names = [row["attname"] for row in await conn.fetch(_ATTRIBUTES, relation)]
    assert names, relation
    return names


@pytest.mark.parametrize("row", ROW_TYPES, ids=[r.type_name for r in ROW_TYPES])
async def test_an_input_type_is_its_python_fields_and_its_tables_columns(
    conn: asyncpg.Connection, row: RowType
) -> None:
    attributes = await _attributes(conn, row.type_name)
    assert attributes == list(row.python)
    columns = await _attributes(conn, row.table)
    elsewhere = {"id"} | row.by_statement | row.later
    assert [a for a in attributes if a not in row.input_only] == [c for c in columns if c not in elsewhere]


async def test_a_state_row_is_recipient_state_in_table_order(conn: asyncpg.Connection) -> None:
    columns = await _attributes(conn, "recipients")
    assert [f.name for f in fields(RecipientState)] == columns[: len(fields(RecipientState))]
    assert columns[len(fields(RecipientState)) :] == ["created_at", "updated_at"]


def _listed(pattern: str) -> list[str]:
    """The comma-separated names `pattern`'s group captures in `write_batch`."""
    found = re.search(pattern, sql("write_batch"), re.DOTALL)
    assert found, pattern
    return [name.strip() for name in found.group(1).split(",")]


@pytest.mark.parametrize("row", ROW_TYPES, ids=[r.table for r in ROW_TYPES])
async def test_write_batch_inserts_every_column_a_plan_fills(conn: asyncpg.Connection, row: RowType) -> None:
    columns = await _attributes(conn, row.table)
    inserted = _listed(rf"INSERT INTO {row.table} \((.*?)\)")
    assert inserted == [c for c in columns if c not in {"id"} | row.later]


async def test_write_batch_updates_every_state_column(conn: asyncpg.Connection) -> None:
    columns = await _attributes(conn, "recipients")
    assignments = _listed(r"UPDATE recipients AS r SET(.*?)\n    FROM u")
    assert [a.split("=")[0].strip() for a in assignments] == [
        c for c in columns if c not in {"address", "created_at"}
    ]
