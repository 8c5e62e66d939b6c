"""What the demo shows a person: each address's outcome, the review queue, the quarantine, where to look.

`Report.read` gathers it from the store (through the send-gate's own lookup, so the summary says what
`GET /v1/recipients/...` and `bounced status` say); `render` is pure text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bounced.core.model import Status
from bounced.core.sendgate import RecipientAnswer, StoreSendGate
from bounced.db.url import has_password, without_password
from bounced.demo.campaign import Feedback, addresses
from bounced.service.listen import local_url

ABSENT = "-"


@dataclass(frozen=True, slots=True)
class Row:
    """One campaign address: the feedback it got and the send-gate's answer (None: no record)."""

    address: str
    feedback: tuple[str, ...]
    answer: RecipientAnswer | None


@dataclass(frozen=True, slots=True)
class Held:
    """A quarantined message, as listed."""

    id: int
    queue: str
    code: str
    detail: str


@dataclass(frozen=True, slots=True)
class Report:
    """Everything the summary shows."""

    rows: tuple[Row, ...]
    review: tuple[Row, ...]
    quarantine: tuple[Held, ...]
    messages: int
    http_addr: str
    now: datetime

    @classmethod
    async def read(cls, store: Any, items: Sequence[Feedback], http_addr: str) -> Report:
        """Read the outcome of `items` from `store`."""
        names = addresses(items)
        answers = await StoreSendGate(store).lookup(names)
        rows = tuple(Row(a, _labels(items, a), answers.get(a)) for a in names)
        held = tuple(Held(q.id, q.queue, q.code, q.detail) for q in await store.quarantine_list())
        review = tuple(r for r in rows if r.answer is not None and r.answer.status is Status.REVIEW)
        return cls(rows, review, held, len(items), http_addr, datetime.now(UTC))


def _labels(items: Sequence[Feedback], address: str) -> tuple[str, ...]:
    return tuple(item.label for item in items if address in item.addresses)


def render(report: Report, elapsed: float) -> str:
    """The summary as text; `elapsed` is the demo's time so far in seconds."""
    lines = [
        f"bounced demo: {report.messages} messages of a campaign's feedback, processed by the real daemon; "
        f"{elapsed:.1f} s in all.",
        "(bounce topic SNS-wrapped, complaint topic with raw delivery, delivery topic wrapped, "
        "one poison message sent straight to the bounce queue)",
        "",
        *_table(report),
        "",
        f"Review queue ({len(report.review)}): a person decides (`bounced review list`, "
        "`bounced review resolve ADDRESS --action suppress|clear`)",
        *(f"  {row.address:<18} {_reason(row.answer)}" for row in report.review),
        "",
        f"Quarantine ({len(report.quarantine)}): kept with their raw bytes (`bounced quarantine show ID`)",
        *(
            f"  #{held.id:<3} queue={held.queue} {held.code}: {held.detail[:80]}"
            for held in report.quarantine
        ),
        "",
        f"Metrics:   {local_url(report.http_addr, '/metrics')}  (while the demo runs; `--serve` keeps it up)",
        f"Send-gate: {local_url(report.http_addr, '/v1/recipients/ada@example.org')}",
        "",
    ]
    return "\n".join(lines)


def _table(report: Report) -> list[str]:
    header = ("address", "status", "mail?", "reason", "retry at", "feedback")
    body = [
        (
            row.address,
            row.answer.status.value if row.answer else "(none)",
            _yes_no(row.answer),
            _reason(row.answer),
            _retry(row.answer, report.now),
            "; ".join(row.feedback),
        )
        for row in report.rows
    ]
    widths = [max(len(r[i]) for r in (header, *body)) for i in range(len(header) - 1)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
        for r in (header, *body)
    ]


def _yes_no(answer: RecipientAnswer | None) -> str:
    return "yes" if answer is None or answer.sendable else "no"


def _reason(answer: RecipientAnswer | None) -> str:
    if answer is None:
        return "no record (nothing to act on)"
    return answer.reason or ABSENT


def _retry(answer: RecipientAnswer | None, now: datetime) -> str:
    if answer is None or answer.retry_at is None:
        return ABSENT
    minutes = max(0, round((answer.retry_at - now).total_seconds() / 60))
    return f"{answer.retry_at:%H:%M:%S} UTC (in {minutes} min)"


def serve_help(env: Mapping[str, str], http_addr: str) -> str:
    """What to try while `bounced demo --serve` runs."""
    exports = (
        "BOUNCED_DATABASE_URL",
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "BOUNCED_BOUNCE_QUEUE_URL",
        "BOUNCED_COMPLAINT_QUEUE_URL",
        "BOUNCED_DELIVERY_QUEUE_URL",
    )
    shown = dict(env)
    dsn = env.get("BOUNCED_DATABASE_URL")
    if dsn:
        shown["BOUNCED_DATABASE_URL"] = without_password(dsn)
    lines = [
        "The daemon keeps running; Ctrl-C stops it and drops the demo database.",
        "To use the CLI against the demo, in another shell:",
        *(f"  export {name}='{shown[name]}'" for name in exports if name in shown),
        *(
            ["  # and PGPASSWORD: the database URL above leaves its password out"]
            if dsn and has_password(dsn)
            else []
        ),
        "  bounced status ada@example.org --json",
        "  bounced list --status suppressed",
        "  bounced review list",
        "  bounced quarantine list",
        f"  curl -s {local_url(http_addr, '/metrics')} | grep ^bounced_",
        f"  curl -s {local_url(http_addr, '/v1/recipients/fay@example.org')}",
        "",
    ]
    return "\n".join(lines)
