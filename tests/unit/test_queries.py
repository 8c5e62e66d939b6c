"""The named-query loader."""

from __future__ import annotations

import pytest

from bounced.db.queries import QUERIES, parse, sql


def test_every_block_loads_with_a_statement() -> None:
    assert "write_batch" in QUERIES
    assert sql("ping") == "SELECT 1;"


def test_unknown_name_is_named() -> None:
    with pytest.raises(KeyError, match="no_such"):
        sql("no_such")


def test_block_without_description_is_refused() -> None:
    with pytest.raises(ValueError, match="no one-line description"):
        parse("-- name: bare\nSELECT 1;\n")


def test_duplicate_name_is_refused() -> None:
    with pytest.raises(ValueError, match="defined twice"):
        parse("-- name: a\n-- one\nSELECT 1;\n-- name: a\n-- two\nSELECT 2;\n")


def test_comment_lines_are_dropped() -> None:
    assert parse("-- name: a\n-- what it does\n-- $1 x\nSELECT $1;\n") == {"a": "SELECT $1;"}
