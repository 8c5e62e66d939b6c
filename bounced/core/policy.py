"""Retry policy: how long to wait before mailing an address again after a transient failure.

Pure data and arithmetic; configuration (TOML) is validated here so an invalid policy stops start-up
with a message naming the key.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType

_DURATION = re.compile(r"([0-9]+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
LONGEST_WINDOW = timedelta(days=365)
"""The longest retry window: a wait beyond it is a typo, not a policy."""

DEFAULT_KEY = "default"
"""The key in `[retry.windows]` naming the windows for causes no other key names."""

DEFAULT_JITTER = 0.1


def parse_duration(text: str) -> timedelta:
    """`"90s"`, `"15m"`, `"6h"` or `"3d"` as a positive timedelta of at most a year; ValueError
    otherwise."""
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"{_show(text)} is not a duration (use a positive number and s, m, h, d)")
    count, unit = int(match.group(1)), match.group(2)
    # Compared before building the timedelta: a huge count would overflow it.
    if count * _SECONDS[unit] > LONGEST_WINDOW.total_seconds():
        raise ValueError(f"{_show(text)} is longer than a year (365d)")
    return timedelta(**{_UNITS[unit]: count})


def _show(value: object) -> str:
    """A value as TOML would spell it, for error messages: strings in double quotes."""
    return json.dumps(value) if isinstance(value, str) else repr(value)


def _hours(*values: int) -> tuple[timedelta, ...]:
    return tuple(timedelta(hours=v) for v in values)


def _days(*values: int) -> tuple[timedelta, ...]:
    return tuple(timedelta(days=v) for v in values)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Waits per retry cause: `windows[cause][n - 1]` is the wait before the n-th retry.

    A cause is looked up exactly ("DeliveryDelay.MailboxFull"), then by its part before the first dot
    ("DeliveryDelay"), then falls back to `default`. An empty list means "never retry: escalate at
    once". The wait of a retry is stretched upwards by up to `jitter` of itself (see `next_wait`).
    """

    windows: Mapping[str, tuple[timedelta, ...]] = field(default_factory=dict)
    default: tuple[timedelta, ...] = ()
    jitter: float = DEFAULT_JITTER

    def __post_init__(self) -> None:
        object.__setattr__(self, "windows", MappingProxyType(dict(self.windows)))
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be between 0 and 1, got {self.jitter}")

    def windows_for(self, cause: str | None) -> tuple[timedelta, ...]:
        """The waits that apply to `cause`."""
        return self.windows.get(self.window_name(cause), self.default)

    def window_name(self, cause: str | None) -> str:
        """The key whose windows apply to `cause`: itself, its family (the part before the first
        dot), else `default`. A bounded set, fit for a metric label."""
        if cause is None:
            return DEFAULT_KEY
        if cause in self.windows:
            return cause
        family = cause.split(".", 1)[0]
        return family if family in self.windows else DEFAULT_KEY

    def next_wait(self, cause: str | None, attempt: int, jitter_unit: float) -> timedelta | None:
        """The wait before retry number `attempt` (1-based), or None when the windows are used up
        (the caller escalates). `jitter_unit` in [0, 1) picks the stretch: the wait is
        `window * (1 + jitter * jitter_unit)`.

        Jitter only lengthens a wait: the configured window is the least time an address rests, so a
        configured "1d" never comes due after 23 hours; a campaign's bounces spread over the next
        `jitter` of the window instead of coming due in the same second.
        """
        if attempt < 1:
            raise ValueError(f"attempt is 1-based, got {attempt}")
        if not 0 <= jitter_unit <= 1:
            raise ValueError(f"jitter_unit must be in [0, 1], got {jitter_unit}")
        windows = self.windows_for(cause)
        if attempt > len(windows):
            return None
        base = windows[attempt - 1]
        return base * (1 + self.jitter * jitter_unit)

    @classmethod
    def from_mapping(cls, windows: Mapping[str, object], *, jitter: object = DEFAULT_JITTER) -> RetryPolicy:
        """A policy from TOML data (`[retry.windows]` and `retry.jitter`), starting from
        DEFAULT_POLICY: each key given replaces that cause's windows; the key `default` replaces
        the windows of unnamed causes. Raises ValueError naming the offending key."""
        merged = dict(DEFAULT_POLICY.windows)
        default = DEFAULT_POLICY.default
        for key, value in windows.items():
            parsed = _parse_windows(f"retry.windows.{key}", value)
            if key == DEFAULT_KEY:
                default = parsed
            else:
                merged[key] = parsed
        return cls(windows=merged, default=default, jitter=_parse_jitter(jitter))


def _parse_windows(key: str, value: object) -> tuple[timedelta, ...]:
    # Wrong TOML types are configuration errors like any other: ValueError is the contract.
    if not isinstance(value, list | tuple):
        message = f'{key}: expected a list of durations such as ["1h", "6h"], got {_show(value)}'
        raise ValueError(message)
    return tuple(_parse_window(f"{key}[{index}]", item) for index, item in enumerate(value))


def _parse_window(key: str, item: object) -> timedelta:
    if not isinstance(item, str) or _DURATION.fullmatch(item) is None:
        raise ValueError(f"{key}: {_show(item)} is not a duration (use s, m, h, d)")
    try:
        return parse_duration(item)
    except ValueError as exc:
        raise ValueError(f"{key}: {exc}") from None


def _parse_jitter(value: object) -> float:
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if not is_number or not math.isfinite(float(value)) or not 0 <= float(value) <= 1:  # type: ignore[arg-type]
        raise ValueError(f"retry.jitter: {_show(value)} is not a fraction between 0 and 1")
    return float(value)  # type: ignore[arg-type]


DEFAULT_POLICY = RetryPolicy(
    windows={
        # A soft bounce with no more specific reason: greylisting, a busy or misconfigured server,
        # out-of-office replies SES files here. Most clear within hours, so retry the same day,
        # then the next; three tries over about a day and a half before giving up.
        "General": _hours(1, 6, 24),
        # A full mailbox is emptied by a person, on a person's schedule: days, not hours. Retrying
        # sooner only adds bounces (and hurts reputation); a mailbox still full after 11 days is
        # most likely abandoned.
        "MailboxFull": _days(1, 3, 7),
        # SES is still retrying these itself when it reports the delay, so our waits start after
        # its own and are shorter than for a bounce: the mail may yet be delivered.
        "DeliveryDelay.MailboxFull": _hours(4, 12, 24),
        # The receiving server refused for now (4xx, overloaded, rate-limited): it usually recovers
        # within hours.
        "DeliveryDelay.RecipientServerError": _hours(1, 4, 12),
        # Other recipient-side delays (General, TransientCommunicationFailure, Undetermined, ...).
        "DeliveryDelay": _hours(1, 4, 12),
    },
    # Transient causes no key names (subtypes seen in the wild that SES does not document): the
    # General ladder, the most cautious one measured in hours.
    default=_hours(1, 6, 24),
    jitter=DEFAULT_JITTER,
)
"""The built-in policy; `RetryPolicy.from_mapping` starts from it."""
