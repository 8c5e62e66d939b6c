"""Why a mail came back: the DSN status (RFC 3463) and diagnostic text reduced to a small taxonomy.

The reason is recorded for operators and, with the opt-in `escalate_nonexistent` rule, lets a
transient bounce that says the mailbox or domain does not exist be suppressed. Order of evidence:

1. an enhanced status code whose meaning is unambiguous (X.1.1 bad mailbox, X.2.2 mailbox full, ...);
2. the diagnostic text (receivers often send a generic 5.0.0 or 5.5.0 with a telling sentence,
   and out-of-office replies carry no status at all);
3. the status code's subject (X.4.x network, X.6.x content, X.7.x policy, ...);
4. the SES bounce subtype or delay type;
5. `unknown`.

The status comes from `status` or, failing that, from the first `d.d.d` in the diagnostic.
"""

from __future__ import annotations

import re
from enum import StrEnum


class Reason(StrEnum):
    """The reason taxonomy (the `reason` field of every decision about a bounce)."""

    USER_UNKNOWN = "user-unknown"
    HOST_UNKNOWN = "host-unknown"
    MAILBOX_FULL = "mailbox-full"
    MAILBOX_DISABLED = "mailbox-disabled"  # exists but refuses mail (X.2.1)
    MESSAGE_TOO_LARGE = "message-too-large"
    CONTENT_REJECTED = "content-rejected"
    POLICY_OR_SPAM_BLOCK = "policy-or-spam-block"
    AUTH_FAILURE = "auth-failure"  # SPF/DKIM/DMARC: the sender's setup, not the address
    SUPPRESSED = "suppressed"  # SES's own suppression lists: no remote server was asked
    AUTO_REPLY = "auto-reply"
    EXPIRED = "expired"
    NETWORK = "network"
    UNKNOWN = "unknown"


NONEXISTENT = frozenset({Reason.USER_UNKNOWN, Reason.HOST_UNKNOWN})

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")

# Detail codes whose meaning does not depend on who sent them (subject.detail).
_EXACT: dict[str, Reason] = {
    "1.1": Reason.USER_UNKNOWN,
    "1.2": Reason.HOST_UNKNOWN,
    "1.3": Reason.USER_UNKNOWN,
    "1.6": Reason.USER_UNKNOWN,
    "2.2": Reason.MAILBOX_FULL,
    "2.3": Reason.MESSAGE_TOO_LARGE,
    "3.4": Reason.MESSAGE_TOO_LARGE,
    "4.4": Reason.HOST_UNKNOWN,  # unable to route: in practice no MX/A record for the domain
    "4.7": Reason.EXPIRED,
    "7.23": Reason.AUTH_FAILURE,
    "7.25": Reason.AUTH_FAILURE,
    "7.26": Reason.AUTH_FAILURE,
    "7.27": Reason.AUTH_FAILURE,
}

# The diagnostic text, first match wins: the more specific phrases come first ("domain does not
# exist" before "does not exist"). Named groups are Reason members' names.
_TEXT = re.compile(
    r"(?P<AUTO_REPLY>out of (?:the )?office|auto[- ]?reply|automatic reply|autoresponder|on vacation"
    r"|away from (?:the|my) office)"
    r"|(?P<HOST_UNKNOWN>host (?:or domain name )?not found|domain (?:not found|does ?n[o']t exist)"
    r"|no mx|null mx|nxdomain|unrouteable address|name or service not known|no such domain)"
    r"|(?P<MAILBOX_FULL>mailbox (?:is )?full|over ?quota|quota exceeded|exceeded (?:its |their )?"
    r"(?:storage|quota)|insufficient (?:system )?storage)"
    r"|(?P<MESSAGE_TOO_LARGE>message (?:is )?too (?:large|big)|message size exceeds"
    r"|exceeds .{0,20}size limit)"
    r"|(?P<AUTH_FAILURE>dmarc|spf (?:check )?fail|dkim|unauthenticated)"
    r"|(?P<USER_UNKNOWN>user unknown|unknown user|no such (?:user|mailbox|recipient)|recipientnotfound"
    r"|(?:mailbox|user|account|recipient|address) (?:does ?n[o']t exist|not found|unavailable|unknown)"
    r"|does ?n[o']t exist|invalid (?:recipient|mailbox)|unknown recipient|not a valid (?:mailbox|recipient))"
    r"|(?P<MAILBOX_DISABLED>(?:mailbox|account) (?:is )?(?:disabled|inactive|suspended|deactivated))"
    r"|(?P<CONTENT_REJECTED>virus|malware|attachment|content (?:rejected|refused))"
    r"|(?P<POLICY_OR_SPAM_BLOCK>spam|block(?:ed|list)|blacklist|denylist|spamhaus|reputation|rate limit"
    r"|receiving mail at a rate|too many|policy|not authori[sz]ed|access denied|rejected by)"
    r"|(?P<EXPIRED>expired|retry timeout exceeded|too long in (?:the )?queue)"
    r"|(?P<NETWORK>connection (?:timed out|refused|reset|lost)|timed out|network|temporary failure"
    r"|try again later)",
    re.IGNORECASE,
)

# By the status code's subject (RFC 3463 section 3), when nothing more specific spoke.
_SUBJECT: dict[str, Reason] = {
    "1": Reason.USER_UNKNOWN,
    "2": Reason.MAILBOX_DISABLED,
    "3": Reason.NETWORK,
    "4": Reason.NETWORK,
    "6": Reason.CONTENT_REJECTED,
    "7": Reason.POLICY_OR_SPAM_BLOCK,
}

# SES bounce subtypes and delivery-delay types.
_HINT: dict[str, Reason] = {
    "NoEmail": Reason.USER_UNKNOWN,
    "Suppressed": Reason.SUPPRESSED,
    "OnAccountSuppressionList": Reason.SUPPRESSED,
    "MailboxFull": Reason.MAILBOX_FULL,
    "MessageTooLarge": Reason.MESSAGE_TOO_LARGE,
    "ContentRejected": Reason.CONTENT_REJECTED,
    "AttachmentRejected": Reason.CONTENT_REJECTED,
    "SpamDetected": Reason.POLICY_OR_SPAM_BLOCK,
    "IPFailure": Reason.POLICY_OR_SPAM_BLOCK,
    "TransientCommunicationFailure": Reason.NETWORK,
    "BYOIPHostNameLookupUnavailable": Reason.NETWORK,
}


def reason_for(status: str | None, diagnostic: str | None, *, hint: str | None = None) -> Reason:
    """The reason for one bounced (or delayed) recipient.

    `status` is the DSN's enhanced status code ("5.1.1"), `diagnostic` the remote server's text,
    `hint` the SES bounce subtype or delay type ("MailboxFull", "Suppressed", ...)."""
    code = _status_code(status, diagnostic)
    if code is not None and (exact := _EXACT.get(code[1])) is not None:
        return exact
    if diagnostic and (match := _TEXT.search(diagnostic)) is not None and match.lastgroup:
        return Reason[match.lastgroup]
    if code is not None and (by_subject := _SUBJECT.get(code[0])) is not None:
        return by_subject
    if hint is not None and (hinted := _HINT.get(hint)) is not None:
        return hinted
    return Reason.UNKNOWN


def says_nonexistent(status: str | None, diagnostic: str | None) -> bool:
    """True when the status or text says the mailbox or its domain does not exist."""
    return reason_for(status, diagnostic) in NONEXISTENT


def _status_code(status: str | None, diagnostic: str | None) -> tuple[str, str] | None:
    """(subject, "subject.detail") of the enhanced status code, from `status` or the text."""
    for source in (status, diagnostic):
        if source and (match := _STATUS.search(source)) is not None:
            return match[2], f"{match[2]}.{match[3]}"
    return None
