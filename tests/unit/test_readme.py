"""The README's configuration table is generated from the settings definitions; this fails on drift.

To regenerate: `BOUNCED_UPDATE_README=1 .venv/bin/pytest tests/unit/test_readme.py`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from bounced.cli import build_parser
from bounced.config import settings_markdown

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"(<!-- settings:start[^>]*-->\n)(.*?)(<!-- settings:end -->)", re.DOTALL)


def test_configuration_table_matches_the_settings() -> None:
    text = README.read_text(encoding="utf-8")
    match = BLOCK.search(text)
    assert match is not None, "README lost its settings markers"
    expected = settings_markdown() + "\n"
    if os.environ.get("BOUNCED_UPDATE_README") == "1":
        README.write_text(text[: match.start(2)] + expected + text[match.end(2) :], encoding="utf-8")
        return
    assert match.group(2) == expected, "README settings table drifted; regenerate it (see module docstring)"


def test_every_subcommand_is_in_the_cli_reference() -> None:
    text = README.read_text(encoding="utf-8")
    parser = build_parser()
    assert parser._subparsers is not None
    (action,) = parser._subparsers._group_actions
    for name in getattr(action, "choices", {}):
        assert f"`bounced {name}" in text, f"README's CLI table does not mention `bounced {name}`"
