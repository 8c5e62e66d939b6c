"""The retry policy: durations, windows per cause, jitter bounds, escalation, TOML validation."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bounced.core.policy import DEFAULT_POLICY, RetryPolicy, parse_duration

H = timedelta(hours=1)
D = timedelta(days=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("6h", timedelta(hours=6)),
        ("3d", timedelta(days=3)),
    ],
)
def test_parse_duration_units(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "6", "h", "6x", "0h", "-1h", "1.5h", " 6h", "6H", "1h30m"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("cause", "waits"),
    [
        ("General", [1 * H, 6 * H, 24 * H]),
        ("MailboxFull", [1 * D, 3 * D, 7 * D]),
        ("DeliveryDelay.MailboxFull", [4 * H, 12 * H, 24 * H]),
        ("DeliveryDelay.RecipientServerError", [1 * H, 4 * H, 12 * H]),
        ("DeliveryDelay.TransientCommunicationFailure", [1 * H, 4 * H, 12 * H]),
        ("SomethingNew", [1 * H, 6 * H, 24 * H]),
        (None, [1 * H, 6 * H, 24 * H]),
    ],
)
def test_default_ladders_then_escalation(cause: str | None, waits: list[timedelta]) -> None:
    got = [DEFAULT_POLICY.next_wait(cause, attempt, 0.0) for attempt in range(1, len(waits) + 2)]
    assert got == [*waits, None]


def test_jitter_stretches_upwards_to_the_fraction() -> None:
    policy = RetryPolicy(windows={"General": (10 * H,)}, jitter=0.2)
    assert policy.next_wait("General", 1, 0.0) == 10 * H
    assert policy.next_wait("General", 1, 0.5) == 11 * H
    assert policy.next_wait("General", 1, 1.0) == 12 * H


@given(unit=st.floats(min_value=0, max_value=1), jitter=st.floats(min_value=0, max_value=1))
def test_jitter_bounds(unit: float, jitter: float) -> None:
    policy = RetryPolicy(windows={"MailboxFull": (D,)}, jitter=jitter)
    wait = policy.next_wait("MailboxFull", 1, unit)
    assert wait is not None
    assert D <= wait <= D * (1 + jitter)


def test_jitter_unit_out_of_range_is_an_error() -> None:
    with pytest.raises(ValueError, match="jitter_unit"):
        DEFAULT_POLICY.next_wait("General", 1, 1.5)


def test_attempt_is_one_based() -> None:
    with pytest.raises(ValueError, match="1-based"):
        DEFAULT_POLICY.next_wait("General", 0, 0.0)


def test_empty_windows_escalate_at_once() -> None:
    policy = RetryPolicy.from_mapping({"General": []})
    assert policy.next_wait("General", 1, 0.0) is None


def test_from_mapping_overrides_named_causes_and_keeps_the_rest() -> None:
    policy = RetryPolicy.from_mapping({"General": ["90s", "15m"], "default": ["2h"]}, jitter=0)
    assert policy.windows_for("General") == (timedelta(seconds=90), timedelta(minutes=15))
    assert policy.windows_for("MailboxFull") == (1 * D, 3 * D, 7 * D)
    assert policy.windows_for("Unnamed") == (2 * H,)
    assert policy.jitter == 0.0


@pytest.mark.parametrize(
    ("windows", "jitter", "message"),
    [
        ({"General": ["1h", "6x"]}, 0.1, 'retry.windows.General[1]: "6x" is not a duration'),
        ({"MailboxFull": "1d"}, 0.1, "retry.windows.MailboxFull: expected a list of durations"),
        ({"General": [3600]}, 0.1, "retry.windows.General[0]: 3600 is not a duration"),
        ({}, 1.5, "retry.jitter: 1.5 is not a fraction"),
        ({}, "0.1", 'retry.jitter: "0.1" is not a fraction'),
        ({}, True, "retry.jitter: True is not a fraction"),
    ],
)
def test_from_mapping_errors_name_the_key(windows: dict[str, object], jitter: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        RetryPolicy.from_mapping(windows, jitter=jitter)


@pytest.mark.parametrize("window", ["366d", "8785h", "527041m", "31536001s", "99999999999999999999d"])
def test_a_window_longer_than_a_year_is_a_configuration_error(window: str) -> None:
    with pytest.raises(
        ValueError, match=re.escape(f'retry.windows.General[1]: "{window}" is longer than a year')
    ):
        RetryPolicy.from_mapping({"General": ["1h", window]})


def test_a_window_of_exactly_a_year_is_accepted() -> None:
    policy = RetryPolicy.from_mapping({"General": ["365d"]})
    assert policy.windows_for("General") == (timedelta(days=365),)
