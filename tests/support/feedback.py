"""Feedback flowing the way production's does: SES JSON published to SNS topics that feed SQS queues
(moto over HTTP), and the consumer's real parts wired to a real store."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiobotocore.session import get_session

from bounced.core import samples
from bounced.core.batch import CommitSummary
from bounced.core.clock import SystemClock
from bounced.db.store import Store, is_transient_error
from bounced.ingest.consumer import DatabaseGate, Poller, PollSettings
from bounced.ingest.groupcommit import GroupCommitter
from bounced.ingest.provision import FeedbackWiring, provision
from bounced.ingest.reader import MessageReader
from bounced.ingest.sqs import SqsQueues
from bounced.service.metrics import Metrics

_ids = itertools.count(1)


def unique_id(prefix: str) -> str:
    """A fresh SES-style id, so separate notifications never share an idempotency key."""
    return f"{prefix}-{next(_ids):06d}-{datetime.now(UTC).timestamp():.0f}"


@dataclass
class Aws:
    """aiobotocore SNS and SQS clients on the moto endpoint."""

    sns: Any
    sqs: Any

    async def publish(self, topic_arn: str, document: Mapping[str, Any]) -> None:
        """Publish SES JSON to a topic, as SES does."""
        await self.sns.publish(TopicArn=topic_arn, Message=samples.dumps(dict(document)))

    async def send_body(self, queue_url: str, body: str) -> None:
        """Put a body straight on a queue (what a broken publisher or raw delivery might leave)."""
        await self.sqs.send_message(QueueUrl=queue_url, MessageBody=body)

    async def depth(self, queue_url: str) -> tuple[int, int]:
        reply = await self.sqs.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )
        attributes = reply["Attributes"]
        return (
            int(attributes["ApproximateNumberOfMessages"]),
            int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        )


@asynccontextmanager
async def aws_clients(endpoint: str) -> AsyncIterator[Aws]:
    session = get_session()
    async with (
        session.create_client("sns", endpoint_url=endpoint, region_name="us-east-1") as sns,
        session.create_client("sqs", endpoint_url=endpoint, region_name="us-east-1") as sqs,
    ):
        yield Aws(sns, sqs)


async def wire(aws: Aws, raw_delivery: Mapping[str, bool] | None = None) -> FeedbackWiring:
    """Topics, queues, DLQs and subscriptions as production has them."""
    return await provision(aws.sns, aws.sqs, raw_delivery=raw_delivery)


class RecordingObserver:
    """A BatchObserver that keeps what it is told (and feeds real metrics)."""

    def __init__(self) -> None:
        self.metrics = Metrics(version="test")
        self.summaries: list[CommitSummary] = []
        self.deleted_count = 0
        self.failures: list[str] = []

    def polled(self, poller: str, queue: str, received: int) -> None:
        self.metrics.received(queue, received)

    def committed(self, queue: str, summary: CommitSummary, seconds: float, now: datetime) -> None:
        self.summaries.append(summary)

    def deleted(self, queue: str, count: int) -> None:
        self.deleted_count += count

    def failed(self, component: str) -> None:
        self.failures.append(component)


async def drain(
    aws: Aws,
    wiring: FeedbackWiring,
    store: Store,
    *,
    pollers_per_queue: int = 2,
    observer: RecordingObserver | None = None,
    settings: PollSettings | None = None,
    queues: Sequence[str] = ("bounce", "complaint", "delivery"),
    max_receive_count: int = 5,
    reader: MessageReader | None = None,
) -> RecordingObserver:
    """Run real pollers on the queues until each long poll comes back empty (with the daemon's reader,
    or `reader`)."""
    observer = observer or RecordingObserver()
    clock = SystemClock()
    gate = DatabaseGate(store.ping, clock)
    reader = reader or MessageReader(
        verifier=None, allowed_topics=frozenset(wiring.topics.values()), max_receive_count=max_receive_count
    )
    sqs = SqsQueues(aws.sqs)
    committer = GroupCommitter(store, is_transient=is_transient_error)  # as the daemon wires it
    poll = settings or PollSettings(wait_seconds=1, visibility_timeout=30)
    pollers = [
        Poller(
            name=f"poller:{queue}:{i}",
            queue=queue,
            queue_url=wiring.queues[queue],
            sqs=sqs,
            reader=reader,
            store=committer,
            gate=gate,
            observer=observer,
            clock=clock,
            settings=poll,
        )
        for queue in queues
        for i in range(pollers_per_queue)
    ]
    stop = asyncio.Event()
    async with gate, committer:
        await asyncio.gather(*(p.run(stop, until_empty=True) for p in pollers))
    return observer
