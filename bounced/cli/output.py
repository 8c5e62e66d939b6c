"""Output that is safe to hand on: CSV cells a spreadsheet will not evaluate, text a terminal will not obey.

Feedback fields (diagnostic codes, subtypes, reasons, quarantined bytes) come from whoever sent the
mail's recipient server a reply: they are hostile input. Every command prints them through here.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable
from typing import IO, Any

# A cell beginning with one of these is a formula to Excel, LibreOffice and Google Sheets (OWASP,
# "CSV Injection"); tab and CR start one after the spreadsheet trims them.
CSV_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """`value` as a CSV cell ("" for None), with a `'` in front when it begins like a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(CSV_FORMULA_STARTS) else text


class CsvOut:
    """A CSV writer (one line per row, `\\n`-terminated) whose every cell goes through `csv_cell`."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._writer = csv.writer(stream if stream is not None else sys.stdout, lineterminator="\n")

    def row(self, values: Iterable[object]) -> None:
        """Write one row."""
        self._writer.writerow([csv_cell(value) for value in values])


def terminal_safe(value: object, *, multiline: bool = False) -> str:
    """`str(value)` with every character a terminal would act on written as a Python escape (`\\x1b`,
    `\\x9b`, `\\u202e`): C0 (tab and CR included), DEL, C1, and Unicode's other non-printing
    characters (bidirectional overrides, line separators). With `multiline`, newlines are kept."""
    text = str(value)
    if text.isprintable():
        return text
    if multiline:
        return "\n".join(terminal_safe(line) for line in text.split("\n"))
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def echo(*fields: object, sep: str = " ", file: IO[str] | None = None, multiline: bool = False) -> None:
    """Print `fields` like `print`, each made `terminal_safe` first (`sep` is printed as given)."""
    print(*(terminal_safe(f, multiline=multiline) for f in fields), sep=sep, file=file)


def json_line(value: Any) -> str:
    """`value` as one line of JSON, non-ASCII kept, but what `terminal_safe` would escape \\u-escaped
    (the same JSON: a parser reads the same strings)."""
    text = json.dumps(value, ensure_ascii=False)
    if text.isprintable():
        return text
    # json escaped C0 already; what is left (DEL, C1, format characters) can only be inside strings.
    return "".join(ch if ch.isprintable() else _json_escape(ch) for ch in text)


def _json_escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
