"""SES events through moto's EventBridge: what a configuration set with an EventBridge destination puts
on the default bus, delivered by a rule to its SQS target."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from aiobotocore.session import get_session

from bounced.core import samples
from tests.support.aws import REGION


@asynccontextmanager
async def events_client(endpoint: str) -> AsyncIterator[Any]:
    """An aiobotocore EventBridge client on the moto endpoint."""
    async with get_session().create_client("events", endpoint_url=endpoint, region_name=REGION) as events:
        yield events


async def put_ses_event(events: Any, detail: Mapping[str, Any], *, source: str = "aws.ses") -> None:
    """Put one SES event-publishing record on the default bus, as SES does (detail-type from its
    eventType); fails the test when EventBridge refuses it."""
    entry = {
        "Source": source,
        "DetailType": samples.DETAIL_TYPES[detail["eventType"]],
        "Detail": samples.dumps(dict(detail)),
        "Resources": [f"arn:aws:ses:{REGION}:{samples.ACCOUNT}:configuration-set/newsletter"],
    }
    reply = await events.put_events(Entries=[entry])
    assert reply["FailedEntryCount"] == 0, reply
