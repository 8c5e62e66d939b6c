"""Whatever arrives, the parser answers with a Notification or its own ReadError."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bounced.core import samples
from bounced.core.classify import classify
from bounced.core.model import ReadError
from bounced.core.parse import parse_body

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)

REAL = [
    samples.bounce(["a@example.com", "b@example.com"]),
    samples.complaint(event=True),
    samples.delivery(),
    samples.delivery_delay(),
    samples.click_event(),
]


def survives(body: bytes) -> None:
    try:
        notification = parse_body(body)
    except ReadError as error:
        assert error.code  # noqa: PT017  # hypothesis drives many inputs; most fail, some parse
        return
    assert classify(notification)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(body: bytes) -> None:
    survives(body)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json(value: Any) -> None:
    survives(json.dumps(value).encode())
    survives(samples.sns_wrap(json.dumps(value)).encode())


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(REAL), st.data(), json_values, st.booleans())
def test_mutated_real_notifications(
    document: dict[str, Any], data: st.DataObject, value: Any, wrap: bool
) -> None:
    document = json.loads(json.dumps(document))
    path = data.draw(st.sampled_from(paths(document)))
    target: Any = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    text = json.dumps(document)
    survives((samples.sns_wrap(text) if wrap else text).encode())


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(REAL), st.integers(min_value=0), st.binary(min_size=1, max_size=3))
def test_corrupted_bytes(document: dict[str, Any], position: int, junk: bytes) -> None:
    body = samples.dumps(document).encode()
    cut = position % len(body)
    survives(body[:cut] + junk + body[cut + 1 :])
    survives(body[:cut])
