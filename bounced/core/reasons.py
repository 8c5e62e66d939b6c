"""Why a mail came back: the DSN status (RFC 3463), the diagnostic text and the SES subtype reduced
to a small taxonomy.

The reason is recorded for operators and, with the opt-in `escalate_nonexistent` rule, lets a
transient bounce that says the mailbox or domain does not exist be suppressed.

Every piece of evidence proposes a reason with a weight, and the heaviest wins (a phrase wins a tie
with a code; among phrases of one weight, the first in the table), so a specific phrase beats a
generic one wherever it stands:

- phrases in the diagnostic (`_PHRASES`), weighted by how specific they are: "sender address
  rejected" (95) outweighs "access denied" (30) even when it comes later in the text;
- the enhanced status code (`_DETAIL` 80, then its subject class `_SUBJECT` 40). A generic status
  (X.0.0, X.5.0, any X.n.0, or none) yields to the first code written in the diagnostic;
- the SMTP reply code (`_REPLY`, 20);
- the SES bounce subtype or delay type (`_HINT`: 97 for SES's own suppression lists, where no remote
  server was asked, else 10);
- `unknown` when nothing spoke.

The tables are data: to teach bounced a phrase, add a row.
"""

from __future__ import annotations

import functools
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
    AUTH_FAILURE = "auth-failure"  # SPF/DKIM/DMARC/reverse DNS: the sender's setup, not the address
    SENDER_REJECTED = "sender-rejected"  # the envelope sender, its domain or its sending quota
    SUPPRESSED = "suppressed"  # SES's own suppression lists: no remote server was asked
    AUTO_REPLY = "auto-reply"
    EXPIRED = "expired"
    NETWORK = "network"
    UNKNOWN = "unknown"


NONEXISTENT = frozenset({Reason.USER_UNKNOWN, Reason.HOST_UNKNOWN})

_R = Reason

# (reason, weight, pattern), matched case-insensitively anywhere in the diagnostic.
# Weights: 100 auto-reply; 88-97 phrases that name the situation (they outweigh a status code);
# 80 a status detail code; 45-86 telling phrases; 40 a status subject class; 35-36 vague words.
_PHRASES: tuple[tuple[Reason, int, str], ...] = (
    (
        _R.AUTO_REPLY,
        100,
        r"out of (?:the )?office|\bauto[- ]?(?:reply|replied|responder|response)"
        r"|automatic(?:ally generated)? (?:reply|response)|auto(?:matically)?[- ]generated (?:reply"
        r"|response)|autoresponder|\bvacation\b"
        r"|away from (?:the|my) office",
    ),
    (_R.SUPPRESSED, 97, r"suppression list|has suppressed sending"),
    # The sender is refused, not the recipient.
    (
        _R.SENDER_REJECTED,
        95,
        r"sender address (?:is )?(?:rejected|denied|refused|not allowed|invalid)"
        r"|domain of sender address|sender (?:is )?(?:denied|rejected|refused|not allowed|unvalidated)"
        r"|(?:invalid|bad|unknown|unverified|unverifiable|forged) (?:envelope )?sender"
        r"|sender verif\w* failed|sender (?:domain|address)(?: \S+)? (?:must|does ?n[o']t"
        r"|has null mx|not found)"
        r"|unresolvable (?:rfc\.?5321 )?from domain|mail from (?:domain )?(?:is )?(?:invalid|rejected)"
        r"|invalid (?:mail from|return[- ]path)|null sender is not allowed|sent to too many recipients"
        r"|submission quota|sending (?:quota|limit) (?:exceeded|reached)|(?:sender|domain) frequency limited"
        r"|daily (?:\w+ ){0,2}(?:quota|limit)|sending from unregistered domain"
        r"|limit for message recipients|bad outbound sender"
        r"|not owned by (?:auth )?user|mail sending denied|message sending for this account is disabled",
    ),
    # Authentication of the sending domain or host (SPF, DKIM, DMARC, reverse DNS).
    (
        _R.AUTH_FAILURE,
        94,
        r"dmarc|\bspf\b|sender policy framework|\bdkim\b|\bptr\b|reverse (?:dns|hostname|lookup)"
        r"|\brdns\b|cannot find your (?:reverse )?hostname|unauthenticated"
        r"|authentication (?:checks?|information)"
        r"|fails? to pass (?:authentication|spf|dkim)|ipv6 sending guidelines|\barc (?:validation|check)",
    ),
    # The domain authoritatively does not exist (outweighs a generic "DNS query failed").
    (
        _R.HOST_UNKNOWN,
        93,
        r"nxdomain|non-?existent ?(?:domain|host)|(?:info)?domain ?nonexistent"
        r"|domain (?:name )?(?:[\w.-]+ )?(?:does ?n[o']t|not) exist"
        r"|no such domain|null mx|domain (?:does not|doesn't) accept mail",
    ),
    # A temporary resolver failure is not a missing domain.
    (
        _R.NETWORK,
        92,
        r"not found, try again|try again[^.]{0,40}host not found|servfail|server ?failure"
        r"|temporary (?:failure in name resolution|dns|lookup failure)|dns (?:query"
        r"|lookup) (?:timed out|timeout)"
        r"|dns (?:query|lookup) failed|errorretry|malformed (?:name server|dns) reply",
    ),
    # Exchange Online's directory-based edge blocking: the recipient is not in the directory.
    (
        _R.USER_UNKNOWN,
        91,
        r"recip(?:ient)?notfound|recipient address rejected: access denied\. as\(201806281\)"
        r"|4\.1 \[[^\]]+\]: recipient address rejected: access denied",
    ),
    (
        _R.HOST_UNKNOWN,
        90,
        r"host (?:or domain name )?not found|domain (?:name )?not found|unknown domain"
        r"|invalid domain|host unknown|unknown host|no mx\b|no valid mx|\bmx (?:record )?(?:lookup )?fail"
        r"|unroute?able|name or service not known|bad destination system"
        r"|could not find (?:the )?recipient domain"
        r"|weren't able to find the recipient domain|domain (?:is )?not (?:configured|hosted|served)",
    ),
    (
        _R.USER_UNKNOWN,
        90,
        r"user unknown|unknown user|unknown (?:or illegal )?alias"
        r"|no such (?:user|mailbox|recipient|address|account|person|local user)"
        r"|(?:user|mailbox|account|recipient|address|addressee|e-?mail account)(?: name"
        r"| <?[^\s@<>]+@[^\s<>]+>?)?"
        r" (?:that you tried to reach )?"
        r"(?:does ?n[o']t|not|does not) exist|(?:user|mailbox|recipient|account) (?:was )?not found"
        r"|does ?n[o']t have an? (?:[\w.-]+ )?account|not listed in|not our customer|no mailbox here"
        r"|(?:invalid|unknown|bad) (?:recipient|mailbox|user|destination mailbox)"
        r"|not a valid (?:mailbox|recipient|user|address)|recipient unknown|not a known user"
        r"|user (?:is )?not local|no longer (?:exists|valid|in use)|mailbox name not allowed"
        r"|need fully-qualified address|bad (?:recipient )?address syntax|invalid recipient syntax",
    ),
    (
        _R.MAILBOX_FULL,
        90,
        r"(?:mail ?box|account|inbox|disk|storage|user|folder) (?:is )?(?:full|over ?quota)"
        r"|mailbox \S+ is full"
        r"|mailbox size(?: limit)? exceeded|over ?quota|quota (?:exceeded|exceed|full|limit exceeded)"
        r"|exceeded (?:its |their |the |his )?(?:storage|quota|mailbox)|insufficient (?:system )?storage"
        r"|storage allocation|too much mail data|not enough (?:disk )?space|no space left|account is full",
    ),
    (
        _R.MAILBOX_DISABLED,
        91,
        r"(?:mail ?box|account|user|address|recipient)(?: address)? "
        r"(?:is |has been |was )?(?:temporarily )?(?:disabled|inactive|suspended|deactivated|locked"
        r"|frozen|closed|terminated|discontinued|expired)|inactive (?:e-?mail )?(?:address|account"
        r"|mailbox|user)"
        r"|(?:disabled|suspended|deactivated|locked|terminated) (?:account|mailbox|user)"
        r"|policy rejection on the target address|banned recipient|not accepting (?:any )?(?:mail|messages)",
    ),
    (
        _R.MESSAGE_TOO_LARGE,
        90,
        r"message (?:is )?too large|message (?:is )?too big|message (?:is )?too long"
        r"|message size|message length"
        r"|mailsize|mail size|(?:e?mail|attachment) (?:is |was )?(?:too large|too big)"
        r"|recipsizelimit|too large for"
        r"|exceeds? (?:the )?(?:maximum |max |fixed )*(?:allowed )?(?:message )?size|size exceeds"
        r"|attachment (?:is )?too long",
    ),
    # The recipient receives too much: a throttle, whatever X.2.1 or "unknown recipients" suggest.
    (
        _R.POLICY_OR_SPAM_BLOCK,
        91,
        r"receiving mail (?:at a rate|too quickly)|receive limit|excessive (?:volume|unknown recipients)",
    ),
    (
        _R.EXPIRED,
        85,
        r"message expired|(?:delivery|retry) time(?:out)? (?:expired|exceeded)|retry timeout"
        r"|giving up|gave up|too long in (?:the )?queue|in the queue too long|queue lifetime"
        r"|unable to deliver in \d|could not (?:be )?deliver(?:ed)? (?:\w+ )?for (?:the last )?\d"
        r"|not (?:been )?delivered (?:with)?in \d|message timed out|expired after|time limit exceeded",
    ),
    (_R.CONTENT_REJECTED, 85, r"virus|malware|infected|potential security issue|dangerous|harmful"),
    (_R.POLICY_OR_SPAM_BLOCK, 80, r"\bspam|unsolicited|\bube\b|\buce\b|bulk mail|junk|phish"),
    (
        _R.POLICY_OR_SPAM_BLOCK,
        75,
        r"block ?list|black ?list|deny ?list|blocked|spamhaus|spamcop|barracuda"
        r"|\bblock(?:ed|ing)?\b|sorbs|\brbls?\b|dnsbl|cloudmark|reputation|listed (?:on|in|at)"
        r"|banned|dynamic (?:ip|address)"
        r"|residential|compromised|rate ?limit|too many (?:messages|connections|sessions|recipients|errors"
        r"|mails|hosts)|frequency limited|unexpected volume|deferred due to|grey ?list|gray ?list"
        r"|throttl|not allowed to send|permanently deferred|user complaints|per (?:hour|day|minute)\b"
        r"|limits for how many|(?:max|maximum) (?:\w+ )?(?:messages?|connections|recipients) per",
    ),
    (
        _R.CONTENT_REJECTED,
        78,
        r"content (?:rejected|refused|denied|not accepted)|attachment"
        r"|(?:headers?|message|mime)(?: is| are)? (?:not rfc|invalid|malformed)|not rfc ?\d* ?compliant"
        r"|malformed|line too long|media not supported|invalid characters|rfc ?5322",
    ),
    (
        _R.NETWORK,
        65,
        r"connection (?:timed out|refused|reset|lost|closed|dropped|died)|timed? ?out\b|timeout"
        r"|unable to connect|could not connect|can'?t connect|failed to connect|no route to host"
        r"|(?:network|host) (?:is )?unreachable|lost connection|broken pipe|handshake fail|tls negotiation"
        r"|starttls-not-supported|must support tls|mail loop"
        r"|routing loop|\bloop\b|hop count|too many hops|local error|internal (?:server )?error"
        r"|system problem|database (?:is )?offline|resources? temporarily unavailable|connection died",
    ),
    (
        _R.POLICY_OR_SPAM_BLOCK,
        50,
        r"policy|not authori[sz]ed|relay(?:ing)? (?:access )?denied"
        r"|local restrictions",
    ),
    (_R.USER_UNKNOWN, 60, r"(?:invalid|bad) address|can'?t accept user"),
    (_R.USER_UNKNOWN, 50, r"mailbox (?:is )?unavailable"),
    (_R.USER_UNKNOWN, 45, r"recipient (?:address )?rejected|address rejected"),
    (_R.EXPIRED, 50, r"\bexpired\b"),
    (_R.NETWORK, 37, r"service (?:is )?(?:temporarily )?(?:not available|unavailable)"),
    (_R.NETWORK, 35, r"server (?:is )?busy|temporar(?:y|ily)|try (?:again )?later|please retry"),
    (_R.POLICY_OR_SPAM_BLOCK, 36, r"reject|refuse|denied|not accepted|deny|prohibit|not permitted"),
)

# Enhanced status codes (RFC 3463, RFC 5248 and the IANA registry) whose detail names the cause.
_DETAIL: dict[str, Reason] = {
    "1.1": _R.USER_UNKNOWN,
    "1.2": _R.HOST_UNKNOWN,
    "1.3": _R.USER_UNKNOWN,
    "1.6": _R.USER_UNKNOWN,
    "1.7": _R.SENDER_REJECTED,
    "1.8": _R.SENDER_REJECTED,
    "2.1": _R.MAILBOX_DISABLED,
    "2.2": _R.MAILBOX_FULL,
    "2.3": _R.MESSAGE_TOO_LARGE,
    "3.4": _R.MESSAGE_TOO_LARGE,
    "4.4": _R.HOST_UNKNOWN,  # unable to route: in practice no MX/A record for the domain
    "4.6": _R.NETWORK,
    "4.7": _R.EXPIRED,
    "7.13": _R.MAILBOX_DISABLED,
    "7.17": _R.USER_UNKNOWN,
    "7.18": _R.HOST_UNKNOWN,
    "7.20": _R.AUTH_FAILURE,
    "7.21": _R.AUTH_FAILURE,
    "7.22": _R.AUTH_FAILURE,
    "7.23": _R.AUTH_FAILURE,
    "7.24": _R.AUTH_FAILURE,
    "7.25": _R.AUTH_FAILURE,
    "7.26": _R.AUTH_FAILURE,
    "7.27": _R.SENDER_REJECTED,  # the sender's domain publishes a null MX
    "7.29": _R.AUTH_FAILURE,
}
_DETAIL_WEIGHT = 80

# By the status code's subject (RFC 3463 section 3), when its detail says nothing more.
_SUBJECT: dict[str, Reason] = {
    "1": _R.USER_UNKNOWN,
    "2": _R.MAILBOX_DISABLED,
    "3": _R.NETWORK,
    "4": _R.NETWORK,
    "6": _R.CONTENT_REJECTED,
    "7": _R.POLICY_OR_SPAM_BLOCK,
}
_SUBJECT_WEIGHT = 40

# The basic SMTP reply code (RFC 5321, RFC 7504), when no enhanced code or phrase spoke.
_REPLY: dict[str, Reason] = {
    "421": _R.NETWORK,
    "521": _R.HOST_UNKNOWN,
    "551": _R.USER_UNKNOWN,
    "552": _R.MAILBOX_FULL,
    "554": _R.POLICY_OR_SPAM_BLOCK,
    "556": _R.HOST_UNKNOWN,
}
_REPLY_WEIGHT = 20

# SES bounce subtypes and delivery-delay types: (reason, weight).
_HINT: dict[str, tuple[Reason, int]] = {
    "Suppressed": (_R.SUPPRESSED, 97),
    "OnAccountSuppressionList": (_R.SUPPRESSED, 97),
    "NoEmail": (_R.USER_UNKNOWN, 10),
    "MailboxFull": (_R.MAILBOX_FULL, 10),
    "MessageTooLarge": (_R.MESSAGE_TOO_LARGE, 10),
    "ContentRejected": (_R.CONTENT_REJECTED, 10),
    "AttachmentRejected": (_R.CONTENT_REJECTED, 10),
    "SpamDetected": (_R.POLICY_OR_SPAM_BLOCK, 10),
    "IPFailure": (_R.POLICY_OR_SPAM_BLOCK, 10),
    "TransientCommunicationFailure": (_R.NETWORK, 10),
    "BYOIPHostNameLookupUnavailable": (_R.NETWORK, 10),
}

# The rules compiled once, heaviest first (a stable sort keeps the table's order among equals), each
# anchored at a word start, to run against the lower-cased diagnostic: the first rule that matches is
# the heaviest phrase, and the scan stops as soon as no lighter rule could outweigh what the codes say.
_RULES: tuple[tuple[Reason, int, re.Pattern[str]], ...] = tuple(
    (reason, weight, re.compile(rf"\b(?:{pattern})"))
    for reason, weight, pattern in sorted(_PHRASES, key=lambda rule: -rule[1])
)


# Running ~30 regular expressions over every diagnostic costs ten times the rest of the pipeline, so
# each rule runs only when the text holds one of its "needles": literal strings that every match of
# the rule must contain, read from the patterns themselves (no second list to keep in step). A plain
# alternation of all needles, built as a trie, finds them (the regex engine skips ahead fast on it).
def _class_end(pattern: str, i: int) -> int:
    """The index just past the character class opening at `i`."""
    j = i + 1 + (pattern[i + 1] == "^")
    j += pattern[j] == "]"  # a "]" first in the class is a literal
    while pattern[j] != "]":
        j += 2 if pattern[j] == "\\" else 1
    return j + 1


def _split(pattern: str, sep: str = "|") -> list[str]:
    """`pattern` cut at `sep` outside groups and character classes."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 1
        elif c == "[":
            i = _class_end(pattern, i) - 1
        elif c in "()":
            depth += 1 if c == "(" else -1
        elif c == sep and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    return [*parts, pattern[start:]]


def _atoms(alternative: str) -> list[tuple[str, str, bool]]:
    """(kind, text, required) for each atom of one alternative: kind "char" (a literal character),
    "group" (a group's body) or "other" (a class, an escape like \\d, an anchor)."""
    atoms, i = [], 0
    while i < len(alternative):
        c = alternative[i]
        if c == "(":
            depth, j = 1, i + 1
            while depth:
                if alternative[j] == "\\":
                    j += 2
                    continue
                if alternative[j] == "[":
                    j = _class_end(alternative, j)
                    continue
                depth += {"(": 1, ")": -1}.get(alternative[j], 0)
                j += 1
            body = alternative[i + 1 : j - 1]
            atom, i = ("group", body[2:] if body.startswith("?:") else body), j
        elif c == "[":
            atom, i = ("other", ""), _class_end(alternative, i)
        elif c == "\\":
            escaped = alternative[i + 1]
            atom, i = (("other", "") if escaped.isalnum() else ("char", escaped)), i + 2
        else:
            atom, i = (("other", "") if c in ".^$" else ("char", c)), i + 1
        optional = i < len(alternative) and alternative[i] in "?*{" and not alternative.startswith("{1", i)
        while i < len(alternative) and alternative[i] in "?*+{":
            i = alternative.index("}", i) + 1 if alternative[i] == "{" else i + 1
        atoms.append((atom[0], atom[1], not optional))
    return atoms


def _needles(pattern: str) -> frozenset[str] | None:
    """Strings one of which every match of `pattern` contains; None when some branch has none."""
    found: set[str] = set()
    for alternative in _split(pattern):
        options: list[frozenset[str]] = []
        run = ""
        for kind, text, required in [*_atoms(alternative), ("other", "", True)]:
            if kind == "char" and required:
                run += text
                continue
            if len(run.strip()) >= 3:
                options.append(frozenset({run.strip()}))
            run = ""
            if kind == "group" and required and (inner := _needles(text)) is not None:
                options.append(inner)
        if not options:
            return None
        # The longest shortest needle; among equals the fewest, then the last (the telling word).
        found |= max(reversed(options), key=lambda option: (min(map(len, option)), -len(option)))
    return frozenset(found)


def _rule_needles(pattern: str) -> frozenset[str]:
    needles = _needles(pattern)
    if needles is None:  # tests/unit/test_reasons.py keeps every rule scannable
        raise ValueError(f"a rule without a literal needle: {pattern!r}")
    return needles


_NEEDLES_OF: tuple[frozenset[str], ...] = tuple(
    _rule_needles(rule.pattern[len("\\b(?:") : -1]) for _, _, rule in _RULES
)


@functools.cache
def _scanner(best: Reason, weight: int) -> tuple[re.Pattern[str] | None, dict[str, frozenset[int]]]:
    """For an answer `best` of weight `weight` from the codes: a scanner for the needles of the rules
    that could overturn it (as heavy or heavier, another reason), and the rules each needle wakes.
    The scanner reports the longest needle starting at a place, so a needle wakes its prefixes' rules."""
    wakes: dict[str, set[int]] = {}
    for number, (reason, rule_weight, _) in enumerate(_RULES):
        if rule_weight >= weight and reason is not best:
            for needle in _NEEDLES_OF[number]:
                wakes.setdefault(needle, set()).add(number)
    closed = {n: frozenset(set().union(*(r for m, r in wakes.items() if n.startswith(m)))) for n in wakes}
    return (re.compile(_trie(list(wakes))) if wakes else None), closed


def _trie(words: list[str]) -> str:
    """An alternation of `words` as a trie, longest first at each branch: the regex engine then tries
    a handful of first characters at each place instead of every word."""
    by_head: dict[str, list[str]] = {}
    for word in words:
        by_head.setdefault(word[:1], []).append(word[1:])
    branches = []
    for head, tails in sorted(by_head.items(), key=lambda item: item[0] == ""):
        if head == "":
            continue
        rest = [tail for tail in tails if tail]
        inner = _trie(rest) if rest else ""
        optional = "" in tails
        body = f"(?:{inner})" + ("?" if optional else "") if inner else ""
        branches.append(re.escape(head) + body)
    return "|".join(branches)


# "5.1.1", never a piece of an IP address or of a longer dotted number.
_STATUS = re.compile(r"(?<![\d.])([245])\.([0-7])\.(\d{1,3})(?!\.?\d)")
_REPLY_CODE = re.compile(r"(?:^|[\s;:'\"(\[])([245]\d\d)(?![\d.])")


# Diagnostics repeat: the recipients of one mailing bounce off the same few servers in the same words,
# and weighing a text costs more than reading the rest of the notification. The answer for an exact
# (status, diagnostic, hint) is kept, within bounds: CACHE_ANSWERS answers, for texts of up to
# CACHE_TEXT_MAX characters (a remote server writes what it likes), so at most a few megabytes.
CACHE_ANSWERS = 4096
CACHE_TEXT_MAX = 1000


def reason_for(status: str | None, diagnostic: str | None, *, hint: str | None = None) -> Reason:
    """The reason for one bounced (or delayed) recipient.

    `status` is the DSN's enhanced status code ("5.1.1"), `diagnostic` the remote server's text,
    `hint` the SES bounce subtype or delay type ("MailboxFull", "Suppressed", ...)."""
    if diagnostic is not None and len(diagnostic) > CACHE_TEXT_MAX:
        return _weigh(status, diagnostic, hint)
    return _remembered(status, diagnostic, hint)


def _weigh(status: str | None, diagnostic: str | None, hint: str | None) -> Reason:
    """The heaviest evidence: the codes' answer, unless a phrase in the text outweighs it."""
    best, weight = _code_evidence(status, diagnostic, hint)
    if not diagnostic:
        return best
    scanner, wakes = _scanner(best, weight)
    if scanner is None:
        return best
    text = diagnostic.lower()
    found = scanner.search(text)
    if found is None:  # the common case: nothing in the text could overturn the codes
        return best
    return _heaviest_phrase(text, best, weight, found, wakes)


_remembered = functools.lru_cache(maxsize=CACHE_ANSWERS)(_weigh)


def _heaviest_phrase(
    text: str, best: Reason, weight: int, found: re.Match[str], wakes: dict[str, frozenset[int]]
) -> Reason:
    """The reason of the heaviest rule matching `text` that weighs at least `weight`, else `best`.

    `found` is the scanner's first needle. Only the rules whose needles are in the text run, and a
    rule that would only repeat `best` runs only when a lighter rule disagreeing with it matched."""
    awake: set[int] = set()
    search = found.re.search
    needle: re.Match[str] | None = found
    while needle is not None:  # every place a needle starts (findall would skip overlapping ones)
        awake |= wakes[needle[0]]
        needle = search(text, needle.start() + 1)
    for number in sorted(awake):  # heaviest first
        reason, _, rule = _RULES[number]
        if rule.search(text) is not None:
            heavier = (rule for (r, w, rule) in _RULES[:number] if r is best and w >= weight)
            return best if any(h.search(text) for h in heavier) else reason
    return best


def says_nonexistent(status: str | None, diagnostic: str | None) -> bool:
    """True when the status or text says the mailbox or its domain does not exist."""
    return reason_for(status, diagnostic) in NONEXISTENT


def _code_evidence(status: str | None, diagnostic: str | None, hint: str | None) -> tuple[Reason, int]:
    """The heaviest of what the status code, the SMTP reply code and SES's subtype propose."""
    best, weight = Reason.UNKNOWN, 0
    code = _status_code(status, diagnostic)
    if code is not None:
        subject, detail = code
        if (exact := _DETAIL.get(detail)) is not None:
            best, weight = exact, _DETAIL_WEIGHT
        elif (by_subject := _SUBJECT.get(subject)) is not None:
            best, weight = by_subject, _SUBJECT_WEIGHT
    reply = _REPLY_CODE.search(diagnostic) if diagnostic and weight < _REPLY_WEIGHT else None
    if reply is not None and (by_reply := _REPLY.get(reply[1])) is not None:
        best, weight = by_reply, _REPLY_WEIGHT
    if hint is not None and (hinted := _HINT.get(hint)) is not None and hinted[1] > weight:
        best, weight = hinted
    return best, weight


def _status_code(status: str | None, diagnostic: str | None) -> tuple[str, str] | None:
    """(subject, "subject.detail") of the enhanced status code: `status`, unless it is generic
    (X.0.0, X.5.0, any X.n.0) or missing and the diagnostic writes one of its own."""
    given = _STATUS.search(status) if status else None
    if given is not None and given[2] not in "05" and given[3] != "0":
        return given[2], f"{given[2]}.{given[3]}"
    found = (_STATUS.search(diagnostic) if diagnostic else None) or given
    return (found[2], f"{found[2]}.{found[3]}") if found is not None else None
