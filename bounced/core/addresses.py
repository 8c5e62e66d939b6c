"""E-mail address normalisation: the one form bounced stores and compares.

An address is reduced to its addr-spec (the part inside `<...>` when SES hands over `Name <addr>`)
and lower-cased with `str.lower()`: Unicode-aware, never `casefold()` (which turns `ß` into `ss`,
a different mailbox) and never IDNA-encoded, so an SMTPUTF8 address such as `用户@例子.广告`
survives the round trip unchanged apart from its case.
"""

from __future__ import annotations

import re

from bounced.core.model import ReadError

# RFC 5321: a path is at most 256 octets including the angle brackets, so 254 for the address.
MAX_OCTETS = 254

# Whitespace (Unicode-aware `\s`), C0/C1 controls and DEL, and lone surrogates (which a JSON
# `\ud800` escape can smuggle in and which no UTF-8 encoder, PostgreSQL included, will accept).
_FORBIDDEN = re.compile("[\\s\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def normalise_address(raw: str) -> str:
    """The addr-spec of `raw`, lower-cased; `ReadError("bad_address", ...)` when it is not one."""
    if len(raw) > 4 * MAX_OCTETS + 1024:  # no address fits: don't scan megabytes of junk
        raise ReadError("bad_address", "address too long")
    address = _addr_spec(raw).lower()
    if _FORBIDDEN.search(address):
        raise ReadError("bad_address", "address contains whitespace or control characters")
    at = address.rfind("@")
    if at <= 0 or at == len(address) - 1:
        raise ReadError("bad_address", "address needs a local part, an @ and a domain")
    if len(address) > MAX_OCTETS or len(address.encode("utf-8")) > MAX_OCTETS:
        raise ReadError("bad_address", f"address longer than {MAX_OCTETS} octets")
    return address


def _addr_spec(raw: str) -> str:
    """The part inside the last `<...>` of `Name <addr>`, or `raw` itself when it has no brackets."""
    if not raw.endswith(">"):
        return raw
    start = raw.rfind("<")
    if start < 0:
        raise ReadError("bad_address", "unbalanced angle brackets")
    return raw[start + 1 : -1]
