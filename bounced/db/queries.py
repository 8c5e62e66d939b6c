"""The named SQL blocks of `bounced/db/sql/queries.sql`, loaded once.

A block starts with `-- name: NAME`, then a one-line description (more comment lines may follow),
then the statement. `sql("name")` returns the statement text.
"""

from __future__ import annotations

import re
from importlib import resources
from types import MappingProxyType

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def parse(text: str) -> dict[str, str]:
    """Named blocks of a queries file: name -> statement (comment lines dropped)."""
    parts = _NAME.split(text)
    blocks: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in blocks:
            raise ValueError(f"query {name!r} is defined twice")
        lines = body.strip().splitlines()
        if not lines or not lines[0].startswith("-- "):
            raise ValueError(f"query {name!r} has no one-line description")
        statement = "\n".join(line for line in lines if not line.startswith("--")).strip()
        if not statement:
            raise ValueError(f"query {name!r} has no statement")
        blocks[name] = statement
    return blocks


QUERIES = MappingProxyType(
    parse(resources.files("bounced.db.sql").joinpath("queries.sql").read_text("utf-8"))
)


def sql(name: str) -> str:
    """The statement of the named block; KeyError names an unknown one."""
    try:
        return QUERIES[name]
    except KeyError:
        raise KeyError(f"no query named {name!r} in bounced/db/sql/queries.sql") from None
