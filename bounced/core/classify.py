"""Notification in, one `Decision` per recipient out: the rule table is data, not code.

`Rules` is read from configuration with `Rules.from_mapping`, which merges a TOML-style table over
the defaults (so one line changes one rule) and rejects anything it does not know:

```toml
[rules]
escalate_nonexistent = false        # transient bounces that say "no such user/domain": suppress

[rules.bounce]                      # "BounceType.SubType", "BounceType.*" or "*"; most specific wins
"Permanent.*" = "suppress"
"Transient.General" = "retry"
"Transient.MailboxFull" = "retry"
"Transient.*" = "review"            # MessageTooLarge, ContentRejected, AttachmentRejected, unknown
"Undetermined.*" = "review"
"*" = "review"                      # a bounce type SES has yet to invent

[rules.complaint]                   # complaintFeedbackType, or "*" (also: no feedback type)
"*" = "suppress"
"not-spam" = "ignore"

[rules.delivery_delay]              # deliveryDelay.delayType, or "*"
MailboxFull = "retry"
RecipientServerError = "retry"
"*" = "ignore"

[rules.kind]                        # the kinds without a table of their own
delivery = "clear"
send = "ignore"                     # also reject, open, click, rendering_failure, subscription,
                                    # subscription_confirmation
```

Allowed actions: bounce suppress/retry/review/ignore; complaint suppress/review/ignore;
delivery_delay retry/review/ignore; kind clear/review/ignore.

A RETRY carries `cause`, the key of the retry policy's window list: the bounce subtype (or the
bounce type when SES gave none) for a bounce, `DeliveryDelay.<delayType>` for a delay.

Escalation (`escalate_nonexistent`, off by default): a Transient bounce whose status or text says
the mailbox or its domain does not exist (reason user-unknown or host-unknown) is decided SUPPRESS
with `escalate=True`, whatever its table entry says, so the audit log shows the rule that did it.

Auto-replies: SES reports an out-of-office or other automatic reply as a Transient/General bounce.
The mail was delivered, so such a bounce (reason auto-reply) must never count toward escalation: where
the table says `retry` (the only action that adds to the soft-bounce streak) the decision is IGNORE,
still recorded in the audit log with its reason. Every other table entry applies as written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from bounced.core.model import Action, Decision, Kind, Notification, Recipient
from bounced.core.reasons import NONEXISTENT, Reason, reason_for

BOUNCE_TYPES = frozenset({"Permanent", "Transient", "Undetermined"})
WILDCARD = "*"

_SECTION_ACTIONS: dict[str, frozenset[Action]] = {
    "bounce": frozenset({Action.SUPPRESS, Action.RETRY, Action.REVIEW, Action.IGNORE}),
    "complaint": frozenset({Action.SUPPRESS, Action.REVIEW, Action.IGNORE}),
    "delivery_delay": frozenset({Action.RETRY, Action.REVIEW, Action.IGNORE}),
    "kind": frozenset({Action.CLEAR, Action.REVIEW, Action.IGNORE}),
}
# The kinds decided by the `kind` table; bounce, complaint and delivery_delay have their own.
TABLE_KINDS = frozenset(Kind) - {Kind.BOUNCE, Kind.COMPLAINT, Kind.DELIVERY_DELAY}

_DEFAULT_BOUNCE = {
    "Permanent.*": Action.SUPPRESS,
    "Transient.General": Action.RETRY,
    "Transient.MailboxFull": Action.RETRY,
    "Transient.*": Action.REVIEW,
    "Undetermined.*": Action.REVIEW,
    WILDCARD: Action.REVIEW,
}
_DEFAULT_COMPLAINT = {WILDCARD: Action.SUPPRESS, "not-spam": Action.IGNORE}
_DEFAULT_DELAY = {
    "MailboxFull": Action.RETRY,
    "RecipientServerError": Action.RETRY,
    WILDCARD: Action.IGNORE,
}
_DEFAULT_KIND = {kind.value: Action.CLEAR if kind is Kind.DELIVERY else Action.IGNORE for kind in TABLE_KINDS}


def _frozen(table: Mapping[str, Action]) -> Mapping[str, Action]:
    return MappingProxyType(dict(table))


@dataclass(frozen=True)
class Rules:
    """The decision table. Construct with `Rules()` for the defaults or `Rules.from_mapping`."""

    bounce: Mapping[str, Action] = field(default_factory=lambda: _frozen(_DEFAULT_BOUNCE))
    complaint: Mapping[str, Action] = field(default_factory=lambda: _frozen(_DEFAULT_COMPLAINT))
    delivery_delay: Mapping[str, Action] = field(default_factory=lambda: _frozen(_DEFAULT_DELAY))
    kind: Mapping[str, Action] = field(default_factory=lambda: _frozen(_DEFAULT_KIND))
    escalate_nonexistent: bool = False

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, object]) -> Rules:
        """Rules from a TOML-style table merged over the defaults; `ValueError` naming the bad key."""
        unknown = set(mapping) - {*_SECTION_ACTIONS, "escalate_nonexistent"}
        if unknown:
            raise ValueError(f"rules: unknown key {sorted(unknown)[0]!r}")
        escalate = mapping.get("escalate_nonexistent", False)
        if not isinstance(escalate, bool):
            # ValueError throughout: callers catch one type for every configuration mistake.
            raise ValueError("rules.escalate_nonexistent: must be true or false")
        defaults = cls()
        tables = {
            section: _merge(section, getattr(defaults, section), mapping.get(section, {}))
            for section in _SECTION_ACTIONS
        }
        return cls(**tables, escalate_nonexistent=escalate)


def _merge(section: str, defaults: Mapping[str, Action], given: object) -> Mapping[str, Action]:
    if not isinstance(given, Mapping):
        raise ValueError(f"rules.{section}: must be a table")  # as above
    merged = dict(defaults)
    for key, value in given.items():
        name = f"rules.{section}.{key!r}"
        _check_key(section, key, name)
        try:
            action = Action(value)
        except ValueError:
            raise ValueError(f"{name}: unknown action {value!r}") from None
        if action not in _SECTION_ACTIONS[section]:
            allowed = ", ".join(sorted(_SECTION_ACTIONS[section]))
            raise ValueError(f"{name}: action {value!r} not allowed here (one of {allowed})")
        merged[key] = action
    return _frozen(merged)


def _check_key(section: str, key: object, name: str) -> None:
    if not isinstance(key, str) or not key:
        raise ValueError(f"{name}: keys must be non-empty strings")
    if section == "bounce" and key != WILDCARD:
        bounce_type, dot, subtype = key.partition(".")
        if bounce_type not in BOUNCE_TYPES or not dot or not subtype:
            raise ValueError(f"{name}: expected 'Permanent|Transient|Undetermined.<SubType or *>' or '*'")
    if section == "kind" and key not in TABLE_KINDS:
        raise ValueError(f"{name}: not a kind ({', '.join(sorted(TABLE_KINDS))})")


DEFAULT_RULES = Rules()


def classify(notification: Notification, rules: Rules = DEFAULT_RULES) -> tuple[Decision, ...]:
    """One decision per recipient; a notification with no recipients gets one IGNORE without one."""
    if not notification.recipients:
        return (Decision(action=Action.IGNORE, address=None, reason=notification.kind.value),)
    decide = _DECIDERS.get(notification.kind, _decide_by_kind)
    return tuple(decide(notification, recipient, rules) for recipient in notification.recipients)


def _decide_bounce(notification: Notification, recipient: Recipient, rules: Rules) -> Decision:
    bounce_type = notification.bounce_type or ""
    subtype = notification.bounce_subtype
    reason = reason_for(recipient.dsn_status, recipient.diagnostic_code, hint=subtype)
    if rules.escalate_nonexistent and bounce_type == "Transient" and reason in NONEXISTENT:
        return Decision(action=Action.SUPPRESS, address=recipient.address, reason=reason.value, escalate=True)
    table = rules.bounce
    action = (
        (table.get(f"{bounce_type}.{subtype}") if subtype else None)
        or table.get(f"{bounce_type}.*")
        or table[WILDCARD]
    )
    action = _uncounted(action, reason)
    cause = (subtype or bounce_type or None) if action is Action.RETRY else None
    return Decision(action=action, address=recipient.address, reason=reason.value, cause=cause)


def _decide_complaint(notification: Notification, recipient: Recipient, rules: Rules) -> Decision:
    feedback_type = notification.complaint_feedback_type
    table = rules.complaint
    action = (table.get(feedback_type) if feedback_type else None) or table[WILDCARD]
    return Decision(action=action, address=recipient.address, reason="complaint")


def _decide_delay(notification: Notification, recipient: Recipient, rules: Rules) -> Decision:
    delay_type = notification.delay_type
    table = rules.delivery_delay
    reason = reason_for(recipient.dsn_status, recipient.diagnostic_code, hint=delay_type)
    action = _uncounted((table.get(delay_type) if delay_type else None) or table[WILDCARD], reason)
    cause = f"DeliveryDelay.{delay_type or 'Undetermined'}" if action is Action.RETRY else None
    return Decision(action=action, address=recipient.address, reason=reason.value, cause=cause)


def _uncounted(action: Action, reason: Reason) -> Action:
    """An auto-reply is no failure: it never adds to the soft-bounce streak (see the module doc)."""
    return Action.IGNORE if action is Action.RETRY and reason is Reason.AUTO_REPLY else action


def _decide_by_kind(notification: Notification, recipient: Recipient, rules: Rules) -> Decision:
    kind = notification.kind
    reason = "delivered" if kind is Kind.DELIVERY else kind.value
    return Decision(action=rules.kind.get(kind, Action.IGNORE), address=recipient.address, reason=reason)


_DECIDERS = {
    Kind.BOUNCE: _decide_bounce,
    Kind.COMPLAINT: _decide_complaint,
    Kind.DELIVERY_DELAY: _decide_delay,
}
