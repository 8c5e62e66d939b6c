"""Writes the generated parts of the reference pages from the code, so they cannot drift from it.

- docs/reference/configuration.md: the settings table, from `bounced.service.config.settings_markdown()`;
- docs/reference/cli.md: every subcommand's usage and options, from `bounced.cli.build_parser()`.

Each generated part sits between `<!-- NAME:start ... -->` and `<!-- NAME:end -->` markers; the text
around them is written by hand. `python docs/gen_reference.py` rewrites the parts, `--check` exits 1
when a committed page differs from what the code gives (tests/unit/test_docs.py runs the same check).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bounced.cli import build_parser
from bounced.service.config import settings_markdown

DOCS = Path(__file__).resolve().parent
CONFIG_PAGE = DOCS / "reference" / "configuration.md"
CLI_PAGE = DOCS / "reference" / "cli.md"
HELP_WIDTH = 100  # fixed, so the usage lines do not depend on the terminal that ran the generator


def settings_block() -> str:
    """The configuration page's settings table."""
    return settings_markdown() + "\n"


def cli_block() -> str:
    """The CLI page's per-command sections: usage and options of every subcommand, nested ones too."""
    with fixed_width():
        return "\n".join(command_section(command) for command in subcommands(build_parser()))


@contextmanager
def fixed_width() -> Iterator[None]:
    """argparse wraps at the terminal's width (COLUMNS, less 2): pin it while the help is formatted."""
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(HELP_WIDTH + 2)
    try:
        yield
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


BLOCKS: dict[str, tuple[Path, Callable[[], str]]] = {
    "settings": (CONFIG_PAGE, settings_block),
    "cli": (CLI_PAGE, cli_block),
}


Command = tuple[argparse.ArgumentParser, str, int]  # the parser, its one-line help, heading depth


def subcommands(parser: argparse.ArgumentParser, depth: int = 2) -> Iterator[Command]:
    """Every subcommand below `parser`, depth first, in the order they were registered."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield sub, helps.get(name, ""), depth
                yield from subcommands(sub, depth + 1)


def command_section(command: Command) -> str:
    """One subcommand as markdown: heading, description, usage line, arguments table."""
    parser, summary, depth = command
    lines = [f"{'#' * depth} `{parser.prog}`", ""]
    text = (parser.description or summary).strip()
    if text:
        lines += [text, ""]
    lines += ["```text", parser.format_usage().strip(), "```", ""]
    rows = option_rows(parser)
    if rows:
        lines += ["| argument | meaning |", "|---|---|", *rows, ""]
    return "\n".join(lines)


def option_rows(parser: argparse.ArgumentParser) -> list[str]:
    """Table rows for the parser's arguments, without -h and without nested subcommands."""
    formatter = parser._get_formatter()
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        if action.help == argparse.SUPPRESS:
            continue
        invocation = formatter._format_action_invocation(action)
        meaning = formatter._expand_help(action) if action.help else ""
        rows.append(f"| `{' '.join(invocation.split())}` | {cell(meaning)} |")  # a code span may hold |
    return rows


def cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def markers(name: str) -> re.Pattern[str]:
    """The pattern of a generated part: group 2 is the generated text."""
    return re.compile(rf"(<!-- {name}:start[^>]*-->\n)(.*?)(<!-- {name}:end -->)", re.DOTALL)


def refreshed(text: str, name: str, body: str) -> str:
    """`text` with the generated part `name` replaced by `body`."""
    match = markers(name).search(text)
    if match is None:
        raise ValueError(f"no <!-- {name}:start --> ... <!-- {name}:end --> markers")
    return text[: match.start(2)] + body + text[match.end(2) :]


def drifted() -> list[Path]:
    """The pages whose generated part differs from what the code gives now."""
    pages = []
    for name, (page, make) in BLOCKS.items():
        text = page.read_text(encoding="utf-8")
        if refreshed(text, name, make()) != text:
            pages.append(page)
    return pages


def write() -> None:
    """Rewrite every generated part in place."""
    for name, (page, make) in BLOCKS.items():
        text = page.read_text(encoding="utf-8")
        page.write_text(refreshed(text, name, make()), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """`python docs/gen_reference.py [--check]`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if a page differs; write nothing")
    args = parser.parse_args(argv)
    if not args.check:
        write()
        return 0
    stale = drifted()
    for page in stale:
        print(f"{page.relative_to(DOCS.parent)} is out of date: run python docs/gen_reference.py")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
