"""The SESv2 edge: SES's account-level suppression list, over an aiobotocore `sesv2` client.

Beside the SQS edge because both are thin typed layers over an AWS client: this one puts addresses on
the list, takes them off, and reads it whole. The endpoint, region and credentials come from the AWS
SDK's own settings (`AWS_ENDPOINT_URL_SESV2`, `AWS_ENDPOINT_URL`, `AWS_REGION`, the credential chain),
which botocore reads itself. botocore's own retries are off: the caller's backoff is the one policy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from bounced.core.seslist import BOUNCE, ERROR, NOT_FOUND, OK, REJECTED, THROTTLED

if TYPE_CHECKING:
    from types_aiobotocore_sesv2.client import SESV2Client

PAGE_SIZE = 1000  # ListSuppressedDestinations' largest page


@dataclass(frozen=True, slots=True)
class ListedAddress:
    """One entry of SES's suppression list."""

    address: str
    reason: str  # BOUNCE or COMPLAINT
    updated_at: datetime | None


def result_of(exc: BaseException) -> str:
    """The result label of a call that raised `exc`."""
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code == "TooManyRequestsException":
            return THROTTLED
        if code == "NotFoundException":
            return NOT_FOUND
        if code == "BadRequestException":
            return REJECTED
    return ERROR


class SuppressionList:
    """SES's account-level suppression list."""

    def __init__(self, client: SESV2Client) -> None:
        self._client = client

    async def put(self, address: str, reason: str) -> None:
        """List `address` (PutSuppressedDestination); listing it again only refreshes it."""
        ses_reason: Literal["BOUNCE", "COMPLAINT"] = "BOUNCE" if reason == BOUNCE else "COMPLAINT"
        await self._client.put_suppressed_destination(EmailAddress=address, Reason=ses_reason)

    async def delete(self, address: str) -> str:
        """Take `address` off the list: OK, or NOT_FOUND when SES did not list it (also done)."""
        try:
            await self._client.delete_suppressed_destination(EmailAddress=address)
        except ClientError as exc:
            if result_of(exc) == NOT_FOUND:
                return NOT_FOUND
            raise
        return OK

    async def entries(self, page_size: int = PAGE_SIZE) -> AsyncIterator[ListedAddress]:
        """Every listed address, page after page (botocore has no paginator for this call)."""
        token: str | None = None
        while True:
            reply = await (
                self._client.list_suppressed_destinations(PageSize=page_size, NextToken=token)
                if token
                else self._client.list_suppressed_destinations(PageSize=page_size)
            )
            for item in reply.get("SuppressedDestinationSummaries", []):
                yield ListedAddress(item["EmailAddress"], item["Reason"], item.get("LastUpdateTime"))
            token = reply.get("NextToken")
            if not token:
                return


@asynccontextmanager
async def suppression_list(region: str | None) -> AsyncIterator[SuppressionList]:
    """A SuppressionList over a new `sesv2` client, closed on exit."""
    config = AioConfig(
        connect_timeout=5, read_timeout=15, retries={"total_max_attempts": 1, "mode": "standard"}
    )
    async with get_session().create_client("sesv2", region_name=region, config=config) as client:
        yield SuppressionList(client)
