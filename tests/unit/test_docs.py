"""The README and the documentation site stay true to the code.

The reference pages' generated parts (the settings table, every command's usage and options) are
written by docs/gen_reference.py; these tests fail when they drift. To regenerate:
`UPDATE_DOCS=1 .venv/bin/pytest tests/unit/test_docs.py` (or `python docs/gen_reference.py`).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from bounced.cli import build_parser
from bounced.service.config import settings_markdown
from docs import gen_reference

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").rglob("*.md"))
DOOR_LINES = 200


def test_the_generated_reference_matches_the_code() -> None:
    if os.environ.get("UPDATE_DOCS") == "1":
        gen_reference.write()
    assert gen_reference.drifted() == [], "a generated page drifted; regenerate it (see module docstring)"
    assert gen_reference.main(["--check"]) == 0


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda page: str(page.relative_to(ROOT)))
def test_every_settings_table_matches_the_settings(page: Path) -> None:
    """Wherever a settings table is shown, it is the one the code declares."""
    match = gen_reference.markers("settings").search(page.read_text(encoding="utf-8"))
    if match is not None:
        assert match.group(2) == settings_markdown() + "\n"


def test_the_configuration_page_shows_the_settings() -> None:
    text = gen_reference.CONFIG_PAGE.read_text(encoding="utf-8")
    for setting in ("BOUNCED_DATABASE_URL", "BOUNCED_BOUNCE_QUEUE_URL", "BOUNCED_HTTP_ADDR"):
        assert f"| `{setting}` |" in text


def subcommand_names() -> list[str]:
    """`bounced run`, `bounced quarantine list`, ...: every command a person can type, nested too."""
    return [sub.prog for sub, _, _ in gen_reference.subcommands(build_parser())]


def test_the_cli_page_summarises_every_subcommand() -> None:
    """The hand-written command table (outside the generated part) names every command."""
    text = gen_reference.markers("cli").sub("", gen_reference.CLI_PAGE.read_text(encoding="utf-8"))
    names = subcommand_names()
    assert len(names) >= 15, names
    for name in names:
        if name in ("bounced quarantine", "bounced retries", "bounced review"):
            continue  # groups: their actions are the commands
        assert f"`{name}" in text, f"the CLI page's command table does not mention `{name}`"


def test_the_cli_page_shows_every_subcommand_with_its_usage() -> None:
    text = gen_reference.CLI_PAGE.read_text(encoding="utf-8")
    for name in subcommand_names():
        assert f"`{name}`\n" in text, name
        assert f"usage: {name} " in text, name


def command_lines(text: str) -> list[str]:
    """The `bounced ...` commands in a page's code (fenced blocks, indented blocks, and fences
    inside list items), as a newcomer would paste them; `a && b` gives both."""
    commands: list[str] = []
    fenced = False
    previous_blank = True
    in_indented = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        in_indented = line.startswith("    ") and (previous_blank or in_indented) and not fenced
        previous_blank = not line.strip()
        if fenced or in_indented:
            code = line.split(" #")[0].strip().removeprefix("$ ")
            parts = (part.strip() for part in code.split("&&"))
            commands += [part for part in parts if re.match(r"bounced [a-z]", part)]
    return commands


def test_command_lines_are_found() -> None:
    text = "text\n\n```sh\nbounced run --once  # drain\n```\n\n    bounced migrate && bounced run\n"
    assert command_lines(text) == ["bounced run --once", "bounced migrate", "bounced run"]


def test_every_command_line_in_the_docs_parses() -> None:
    """Each `bounced ...` line the README or any page shows is accepted by the real parser."""
    parser = build_parser()
    found = {page: command_lines(page.read_text(encoding="utf-8")) for page in [README, *PAGES]}
    assert len(found[README]) >= 5, found[README]
    assert sum(map(len, found.values())) >= 15, found
    for page, lines in found.items():
        for line in lines:
            try:
                parser.parse_args(shlex.split(line)[1:])
            except SystemExit as exit_:  # argparse exits 2 on a bad command line
                raise AssertionError(f"{page.relative_to(ROOT)}: command does not parse: {line}") from exit_


def test_the_readme_is_a_door() -> None:
    """The README stays short and points into the site; the details live on the pages."""
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= DOOR_LINES, f"README has {len(lines)} lines; move details into docs/"


OUTSIDE_THE_SITE = [README, ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md"]


@pytest.mark.parametrize("page", OUTSIDE_THE_SITE, ids=lambda page: page.name)
def test_relative_links_outside_the_site_resolve(page: Path) -> None:
    """mkdocs --strict checks the site's links; these files are outside it."""
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8"))
    local = [t for t in targets if "://" not in t]
    assert local or page.name == "CHANGELOG.md"
    for target in local:
        assert (page.parent / target).exists(), f"{page.name} links to a missing file: {target}"


def test_the_make_targets_the_docs_name_exist() -> None:
    for target in ("demo", "test", "docs", "bench", "bench-quick"):
        result = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
