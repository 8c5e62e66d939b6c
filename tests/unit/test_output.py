"""CSV cells a spreadsheet will not evaluate, text a terminal will not obey."""

from __future__ import annotations

import csv
import io
import json

import pytest

from bounced.cli.output import CsvOut, csv_cell, json_line, terminal_safe


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("a=1", "a=1"),
        ("user@example.org", "user@example.org"),
        ("2026-03-02T10:00:00+00:00", "2026-03-02T10:00:00+00:00"),
        (None, ""),
        (3, "3"),
    ],
)
def test_csv_cell_puts_a_quote_before_what_a_spreadsheet_would_evaluate(value: object, cell: str) -> None:
    assert csv_cell(value) == cell


def test_csv_out_neutralises_every_cell_and_stays_valid_csv() -> None:
    out = io.StringIO()
    CsvOut(out).row(["=1+1", 'say "hi", then go', None, "-x@example.org"])
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [
        ["'=1+1", 'say "hi", then go', "", "'-x@example.org"]
    ]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b]0;owned\x07", "\\x1b]0;owned\\x07"),  # OSC: set the window title
        ("\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H"),  # clear the screen
        ("\x9b31m", "\\x9b31m"),  # the one-byte C1 CSI
        ("a\x7fb", "a\\x7fb"),
        ("ok\rforged", "ok\\rforged"),
        ("one\ttwo\nthree", "one\\ttwo\\nthree"),
        ("\u202egpj.exe", "\\u202egpj.exe"),  # right-to-left override
        ("smtp; 550 5.1.1 unknown — café", "smtp; 550 5.1.1 unknown — café"),
    ],
)
def test_terminal_safe_escapes_what_a_terminal_would_act_on(text: str, shown: str) -> None:
    assert terminal_safe(text) == shown


def test_terminal_safe_keeps_newlines_only_in_a_multi_line_block() -> None:
    assert terminal_safe("a\x1b[1m\r\nb\n", multiline=True) == "a\\x1b[1m\\r\nb\n"


@pytest.mark.parametrize("text", ["\x1b[31m\x07", "\x9b2J\x85", "\u202e\u2028", "\U000e0041", "ok é"])
def test_json_line_is_the_same_json_without_anything_a_terminal_obeys(text: str) -> None:
    line = json_line({"diagnostic_code": text})
    assert json.loads(line) == {"diagnostic_code": text}
    assert line.isprintable()
