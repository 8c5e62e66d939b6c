"""The send-gate's answer for one address: may we mail it? Shared by `GET /v1/recipients/...` and
`bounced status`, so both say the same thing in the same words.

An address bounced has never heard of is sendable, with `status` null: "no record" is not the same as
a recorded `active`, and clients are meant to read `sendable`, not `status`. Only `active` is
sendable: `deferred` waits for its retry time (the scheduler releases it), `review` waits for a person,
`suppressed` is for good.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from bounced.core import addresses
from bounced.core.model import ReadError, Status

MAX_ADDRESSES = 1000  # per POST /v1/recipients/check


@dataclass(frozen=True, slots=True)
class RecipientAnswer:
    """What bounced knows about one address."""

    address: str
    status: Status
    reason: str | None = None
    retry_at: datetime | None = None

    @property
    def sendable(self) -> bool:
        """Only an active address may be mailed."""
        return self.status is Status.ACTIVE


class SendGate(Protocol):
    """Looks addresses up in the store (implemented over the recipients table)."""

    async def lookup(self, addresses: Sequence[str]) -> Mapping[str, RecipientAnswer | None]:
        """Answers keyed by the given (normalised) addresses; None or absent for an unknown address."""
        ...


class AnswerSource(Protocol):
    """The store's side of the send-gate (`bounced.db.store.Store` is one)."""

    async def sendgate_answers(self, addresses: Sequence[str]) -> Sequence[RecipientAnswer]:
        """Answers for those of `addresses` that have a state row, in one query."""
        ...


class StoreSendGate:
    """The send-gate over the recipients table: one query (`= ANY($1)`) per lookup."""

    def __init__(self, store: AnswerSource) -> None:
        self._store = store

    async def lookup(self, addresses: Sequence[str]) -> Mapping[str, RecipientAnswer | None]:
        """Answers keyed by address; an address with no row is absent (sendable, no record)."""
        return {answer.address: answer for answer in await self._store.sendgate_answers(addresses)}


def normalise_address(raw: str) -> str:
    """The form addresses are stored in: the parser's own normalisation (bounced.core.addresses: the
    addr-spec of `Name <addr>`, lower-cased) after trimming, so a lookup finds exactly what the
    daemon stored. ValueError when it is not an address (none such is ever stored)."""
    try:
        return addresses.normalise_address(raw.strip())
    except ReadError as exc:
        raise ValueError(f"not an e-mail address: {exc.detail}") from None


def answer_json(address: str, answer: RecipientAnswer | None) -> dict[str, Any]:
    """The JSON object for one address: {"address", "sendable", "status", "reason", "retry_at"}."""
    if answer is None:
        return {"address": address, "sendable": True, "status": None, "reason": None, "retry_at": None}
    return {
        "address": address,
        "sendable": answer.sendable,
        "status": answer.status.value,
        "reason": answer.reason,
        "retry_at": answer.retry_at.isoformat() if answer.retry_at else None,
    }
