"""SES's account-level suppression list, as bounced keeps it in step (pure).

With `BOUNCED_SES_SUPPRESSION=push`, every change of an address's state into `suppressed` asks for a
put on SES's list and every change out of it for a delete (`call_for`); the write that changes the
state queues the call in the same transaction (the outbox), and a daemon task makes it.

Addresses read from SES's own list (`bounced ses import`) become suppressed with the kind
`ses_suppression_list`: they came from the list, so nothing is pushed back to it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from bounced.core.model import Kind, Status
from bounced.core.state import RecipientState

PUT = "put"
DELETE = "delete"
OPERATIONS = (PUT, DELETE)

# What a call to the list ended as: the `result` label of bounced_ses_suppression_calls_total.
OK = "ok"
NOT_FOUND = "not_found"  # a delete of an address SES does not list: done
THROTTLED = "throttled"  # 429 TooManyRequestsException: try again later
REJECTED = "rejected"  # 400 BadRequestException: SES refuses this address; trying again cannot help
ERROR = "error"  # anything else (5xx, unreachable, access denied): try again later
RESULTS = (OK, NOT_FOUND, THROTTLED, REJECTED, ERROR)

BOUNCE = "BOUNCE"
COMPLAINT = "COMPLAINT"
SES_LIST_KIND = "ses_suppression_list"
"""The `kind` of audit rows and states recorded from SES's suppression list."""

REASON_OF_SES = {BOUNCE: "bounce", COMPLAINT: "complaint"}
"""bounced's `reason` for an address SES lists, by SES's reason (lower-cased)."""


@dataclass(frozen=True, slots=True)
class SesCall:
    """One call to SES's suppression list: put (with SES's reason) or delete. `id` is the outbox
    row's (None before it is written); `event_id` the audit row of the change that asked for it."""

    address: str
    operation: str
    reason: str | None = None
    event_id: int | None = None
    id: int | None = None


def call_for(before: RecipientState | None, after: RecipientState | None) -> SesCall | None:
    """The call a change from `before` to `after` asks for (None: none). `after` None means no change."""
    if after is None:
        return None
    was = before is not None and before.status is Status.SUPPRESSED
    now = after.status is Status.SUPPRESSED
    if now and not was:
        if after.kind == SES_LIST_KIND:
            return None  # SES lists it already: that is where it came from
        return SesCall(after.address, PUT, ses_reason(after), after.event_id)
    if was and not now:
        return SesCall(after.address, DELETE, None, after.event_id)
    return None


def ses_reason(state: RecipientState) -> str:
    """SES's reason for a suppressed address: COMPLAINT for a complaint, BOUNCE for anything else
    (hard bounces, escalations, a person's suppression)."""
    return COMPLAINT if state.kind == Kind.COMPLAINT.value else BOUNCE


def imported(
    current: RecipientState | None, *, address: str, ses_reason: str, now: datetime
) -> RecipientState | None:
    """The state after reading `address` on SES's list, or None when it is suppressed already
    (which keeps an import idempotent and the first reason)."""
    if current is not None and current.status is Status.SUPPRESSED:
        return None
    base = current or RecipientState(address=address, since=now)
    return replace(
        base,
        status=Status.SUPPRESSED,
        reason=REASON_OF_SES.get(ses_reason, REASON_OF_SES[BOUNCE]),
        kind=SES_LIST_KIND,
        bounce_type=None,
        bounce_subtype=None,
        complaint_feedback_type=None,
        diagnostic_code=None,
        event_id=None,  # the store fills in the audit row's id
        event_ses_message_id=None,
        event_feedback_id=None,
        event_occurred_at=now,
        retry_at=None,
        since=now,
    )
