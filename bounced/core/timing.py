"""When a notification happened, from the times it claims and when it reached SQS (pure).

A notification carries up to three times: its own object's (`bounce.timestamp`, ...), `mail.timestamp`
and its envelope's (the SNS `Timestamp` or the EventBridge event's `time`). The first one present
decides:

- readable and no later than `TRUSTED_LEAD` after the arrival (the SQS `SentTimestamp`): it is used;
- later than that, unreadable, or beyond what a datetime holds: it is not trusted for ordering (a
  delivery stamped 2999 would make every later bounce look older; a transient bounce stamped 2999
  would defer the address until then). The arrival is used, and the claimed value is kept.

When none is present the arrival is used. So a time alone never rejects a notification, and never
dates it later than just after SQS received it.

Readable means: ISO 8601 (a time without a zone is UTC), RFC 1123 / RFC 2822 (`Mon, 02 Mar 2026
10:15:30 GMT`), or seconds or milliseconds since the epoch (a JSON number or a string of digits).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import NamedTuple

import orjson

from bounced.core.model import TimeSource

# How far after its arrival a claimed time is still trusted: clocks disagree by a little.
TRUSTED_LEAD = timedelta(minutes=5)
# When nothing gives a time and no arrival is known (a body parsed on its own).
TIME_UNKNOWN = datetime(1970, 1, 1, tzinfo=UTC)
# The longest claimed value kept (the whole payload is kept too, until retention).
CLAIMED_MAX = 100
# Epoch numbers at least this large are milliseconds (as seconds they would be past the year 5000).
_MILLISECONDS_FROM = 100_000_000_000
_EPOCH = re.compile(r"[+-]?\d+(?:\.\d+)?")


@dataclass(frozen=True, slots=True)
class Arrival:
    """When the message reached bounced's side: the SQS SentTimestamp or, lacking one, bounced's clock."""

    at: datetime
    source: TimeSource = TimeSource.SQS


class Timing(NamedTuple):
    """The time a notification is ordered by, where it came from, and the claimed value not used.
    (A tuple: one is built per notification, and a frozen dataclass costs a call per field.)"""

    occurred_at: datetime
    source: TimeSource
    claimed: str | None = None


def settle(candidates: Iterable[tuple[TimeSource, object]], arrival: Arrival | None) -> Timing:
    """The time of a notification from its `candidates` in order of preference (absent ones None).
    `arrival` None (a body read on its own): no time is refused for being late, and a notification
    without one gets `TIME_UNKNOWN`."""
    for source, value in candidates:
        if value is None or value == "":
            continue
        moment = read_time(value)
        if moment is not None and (arrival is None or moment <= arrival.at + TRUSTED_LEAD):
            return Timing(moment, source)
        return _arrived(arrival, claimed(value))
    return _arrived(arrival, None)


def _arrived(arrival: Arrival | None, claimed_value: str | None) -> Timing:
    if arrival is None:
        return Timing(TIME_UNKNOWN, TimeSource.UNKNOWN, claimed_value)
    return Timing(arrival.at, arrival.source, claimed_value)


def read_time(value: object) -> datetime | None:
    """`value` as an aware UTC datetime, or None when it is no time bounced can read (or hold)."""
    try:
        if isinstance(value, str):
            return _from_text(value.strip())
        if isinstance(value, int | float) and not isinstance(value, bool):
            return _from_epoch(value)
    except (ValueError, OverflowError, OSError):
        pass  # out of range: 9999-12-31T23:59:59-01:00 is past datetime.max once in UTC
    return None


def _from_text(text: str) -> datetime | None:
    # The last character first: SES's own times end in "Z", and the regex costs more than the parse.
    if text[-1:].isdigit() and _EPOCH.fullmatch(text):
        return _from_epoch(float(text))
    try:
        moment: datetime | None = datetime.fromisoformat(text)
    except ValueError:
        moment = _from_rfc2822(text)
    if moment is None:
        return None
    if moment.tzinfo is UTC:
        return moment
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _from_rfc2822(text: str) -> datetime | None:
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None


def _from_epoch(number: float) -> datetime:
    seconds = number / 1000 if abs(number) >= _MILLISECONDS_FROM else number
    return datetime.fromtimestamp(seconds, UTC)


def claimed(value: object) -> str:
    """The claimed value as text to keep: a string verbatim, anything else as JSON; cut short, and
    a NUL or a lone surrogate escaped (PostgreSQL text holds neither; a time alone never makes a
    notification unstorable)."""
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    text = text[:CLAIMED_MAX]
    if text.isascii() and "\x00" not in text:
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
