"""Random and mutated real notifications through the whole pipeline: parse, classify, and a commit on
a real PostgreSQL. Reading raises nothing but ReadError; every outcome commits; committing the same
outcomes again changes nothing; a quarantined body is stored byte for byte."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bounced.core import samples
from bounced.core.classify import classify
from bounced.core.model import Classified, Outcome, Quarantined, ReadError
from bounced.db.store import Store
from bounced.ingest.reader import read_message

pytestmark = pytest.mark.faults

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
_ids = itertools.count(1)

# Text that PostgreSQL cannot store or that parsers trip on: NUL, lone surrogates, odd whitespace.
awkward_text = st.text(
    alphabet=st.sampled_from(
        ["a", "@", ".", " ", "\u0000", "\ud800", "\udfff", "\u2028", "é", "\ufeff", '"']
    ),
    max_size=12,
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | awkward_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def _real(n: int) -> list[dict[str, Any]]:
    """Real notifications of every shape, with fresh ids (so most examples write new rows)."""
    fb, m = f"fb-fuzz-{n}", f"m-fuzz-{n}"
    rcpt = [f"fuzz{n}@example.org", f"Fuzz{n}.b@Example.ORG"]
    return [
        samples.bounce(rcpt, feedback_id=fb, message_id=m),
        samples.bounce(
            rcpt[:1], bounce_type="Transient", subtype="MailboxFull", feedback_id=fb, message_id=m
        ),
        samples.bounce(
            rcpt[:1], bounce_type="Undetermined", subtype="Undetermined", status=None, message_id=m
        ),
        samples.complaint(rcpt, feedback_id=fb, message_id=m),
        samples.complaint(rcpt[:1], feedback_type=None, event=True, feedback_id=fb, message_id=m),
        samples.delivery(rcpt, message_id=m),
        samples.delivery_delay(rcpt[:1], message_id=m),
        samples.click_event(rcpt[:1], message_id=m),
    ]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


@st.composite
def mutated_real(draw: st.DrawFn) -> bytes:
    document = draw(st.sampled_from(_real(next(_ids))))
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(_paths(document)))
        parent: Any = document
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
        if not isinstance(document, dict) or not document:
            break
    text = json.dumps(document, ensure_ascii=draw(st.booleans()))
    if draw(st.booleans()):
        text = samples.sns_wrap(text, message_id=f"sns-fuzz-{next(_ids)}")
    return text.encode("utf-8", "surrogatepass")


bodies = st.one_of(
    mutated_real(),
    mutated_real(),
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode("utf-8", "surrogatepass")),
)


async def outcome_of(body: bytes) -> Outcome:
    """What the consumer's reader makes of one body (no signature check: nothing here is signed)."""
    sqs_message_id = f"sqs-fuzz-{next(_ids)}"
    try:
        notification = await read_message(body, verifier=None)
    except ReadError as error:
        return Quarantined("bounce", sqs_message_id, body, error.code, error.detail)
    return Classified("bounce", sqs_message_id, notification, classify(notification), sent_at=NOW)


_SNAPSHOT = """
SELECT (SELECT count(*) FROM {table}),
       (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} AS t)
"""


async def snapshot(conn: Any) -> list[tuple[int, str]]:
    """Row count and a digest of every row, per table (fixed table names, not input)."""
    tables = ("events", "recipients", "retries", "quarantine")
    return [tuple(await conn.fetchrow(_SNAPSHOT.format(table=table))) for table in tables]


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(bodies, min_size=1, max_size=4))
async def test_any_body_reads_commits_once_and_quarantines_byte_exact(
    store: Store, store_dsn: str, batch: list[bytes]
) -> None:
    outcomes = [await outcome_of(body) for body in batch]
    first = await store.commit(outcomes, NOW)
    event(f"new audit rows: {min(first.new_events, 3)}+")
    conn = await asyncpg.connect(store_dsn)
    try:
        before = await snapshot(conn)
        again = await store.commit(outcomes, NOW + timedelta(seconds=1))
        assert again.new_events == 0
        assert not again.quarantined
        assert not again.status_changes
        assert not again.retries_scheduled
        assert await snapshot(conn) == before
        for outcome in outcomes:
            if isinstance(outcome, Quarantined):
                stored = await conn.fetchval(
                    "SELECT body FROM quarantine WHERE sqs_message_id = $1", outcome.sqs_message_id
                )
                assert bytes(stored) == outcome.body
    finally:
        await conn.close()
