"""The README's configuration table is generated from the settings definitions; this fails on drift.

To regenerate: `UPDATE_README=1 .venv/bin/pytest tests/unit/test_readme.py`.
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
    if os.environ.get("UPDATE_README") == "1":
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


def readme_command_lines() -> list[str]:
    """The `bounced ...` commands in the README's code (fenced blocks and indented blocks), as a
    newcomer would paste them; `a && b` gives both."""
    commands: list[str] = []
    fenced = False
    previous_blank = True
    in_indented = False
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        in_indented = line.startswith("    ") and (previous_blank or in_indented) and not fenced
        previous_blank = not line.strip()
        if fenced or in_indented:
            code = line.split(" #")[0].strip().removeprefix("$ ")
            parts = (part.strip() for part in code.split("&&"))
            commands += [part for part in parts if re.match(r"bounced [a-z]", part)]
    return commands


def test_every_readme_command_line_parses() -> None:
    """Each `bounced ...` line the README shows is accepted by the real parser (options and all)."""
    import shlex  # noqa: PLC0415

    parser = build_parser()
    lines = readme_command_lines()
    assert len(lines) >= 5, lines
    for line in lines:
        argv = shlex.split(line)[1:]
        try:
            parser.parse_args(argv)
        except SystemExit as exit_:  # argparse exits 2 on a bad command line
            raise AssertionError(f"README command does not parse: {line}") from exit_


def test_the_make_targets_the_readme_names_exist() -> None:
    import subprocess  # noqa: PLC0415

    for target in ("demo", "test", "bench", "bench-quick"):
        result = subprocess.run(
            ["make", "-n", target], cwd=README.parent, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr
