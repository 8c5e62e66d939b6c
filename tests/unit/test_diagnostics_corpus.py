"""Every line of the diagnostics corpus (tests/fixtures/diagnostics/diagnostics.jsonl): a real-world
style diagnostic, the DSN status SES would report with it, the reason bounced must give, and the
published reference it was written from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bounced.core.reasons import Reason, reason_for

CORPUS = Path(__file__).parents[1] / "fixtures" / "diagnostics" / "diagnostics.jsonl"
CASES: list[dict[str, Any]] = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]


def test_corpus_is_large_cited_and_covers_every_reason() -> None:
    assert len(CASES) >= 300
    assert all(set(case) == {"status", "diagnostic", "expected", "source"} for case in CASES)
    assert all(case["source"] and "(" in case["source"] for case in CASES)
    assert {Reason(case["expected"]) for case in CASES} == set(Reason)
    assert len({(case["status"], case["diagnostic"]) for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[f"line{n}" for n in range(1, len(CASES) + 1)])
def test_corpus_line(case: dict[str, Any]) -> None:
    assert reason_for(case["status"], case["diagnostic"]).value == case["expected"], case["source"]
