"""Create the SNS topics, SQS queues, dead-letter queues and subscriptions SES feedback flows through,
or the EventBridge rule and its queue (`provision_eventbridge`).

Used by `bounced demo` against its embedded emulator, by the tests against moto, and by the Docker
Compose stack's one-shot set-up job. For real AWS, use the CloudFormation template in deploy/aws/,
which also sets least-privilege policies and encryption.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bounced.core.envelope import SES_SOURCE

KINDS = ("bounce", "complaint", "delivery")
# What a kind's topic and queue are called after the prefix: `<prefix>-deliveries`, as the Docker
# Compose file and the CloudFormation template name them.
PLURALS = {"bounce": "bounces", "complaint": "complaints", "delivery": "deliveries"}
# A dead letter waits for a person: keep it as long as SQS allows (14 days).
DLQ_ATTRIBUTES = {"MessageRetentionPeriod": "1209600"}


@dataclass(frozen=True, slots=True)
class FeedbackWiring:
    """What `provision` created, by kind (bounce, complaint, delivery)."""

    topics: dict[str, str]  # kind -> topic ARN
    queues: dict[str, str]  # kind -> queue URL
    dead_letter_queues: dict[str, str]  # kind -> DLQ URL
    retry_queue: str  # outbound queue URL for released retries
    raw_delivery: frozenset[str] = frozenset()  # the kinds subscribed with raw message delivery

    def environment(self) -> dict[str, str]:
        """The BOUNCED_* settings that point the daemon at these queues (and declare the queues
        subscribed with raw delivery as taking unsigned bodies)."""
        return {
            "BOUNCED_BOUNCE_QUEUE_URL": self.queues["bounce"],
            "BOUNCED_COMPLAINT_QUEUE_URL": self.queues["complaint"],
            "BOUNCED_DELIVERY_QUEUE_URL": self.queues["delivery"],
            "BOUNCED_RETRY_QUEUE_URL": self.retry_queue,
            "BOUNCED_ALLOWED_TOPIC_ARNS": ",".join(self.topics.values()),
            "BOUNCED_UNSIGNED_QUEUES": ",".join(k for k in KINDS if k in self.raw_delivery),
        }


async def provision(
    sns: Any,
    sqs: Any,
    *,
    prefix: str = "bounced",
    raw_delivery: Mapping[str, bool] | None = None,
    max_receive_count: int = 10,
) -> FeedbackWiring:
    """Create (idempotently) a topic, queue and DLQ per kind, subscribe each queue to its topic
    (raw message delivery per `raw_delivery`, default off: SNS-wrapped), and the retry queue.

    The DLQ's maxReceiveCount (default 10) is deliberately above bounced's own
    BOUNCED_MAX_RECEIVE_COUNT (default 5): bounced quarantines a message that keeps coming back in
    PostgreSQL, with the reason and replay tools; the DLQ is the backstop for when bounced itself
    cannot run."""
    raw_delivery = raw_delivery or {}
    topics: dict[str, str] = {}
    queues: dict[str, str] = {}
    dead_letter_queues: dict[str, str] = {}
    for kind in KINDS:
        name = f"{prefix}-{PLURALS[kind]}"
        topic_arn = (await sns.create_topic(Name=name))["TopicArn"]
        dlq_url = (await sqs.create_queue(QueueName=f"{name}-dlq", Attributes=DLQ_ATTRIBUTES))["QueueUrl"]
        queue_url = await _queue_with_dlq(sqs, name, dlq_url, topic_arn, max_receive_count)
        await _subscribe_once(
            sns, topic_arn, await _queue_arn(sqs, queue_url), raw=raw_delivery.get(kind, False)
        )
        topics[kind], queues[kind], dead_letter_queues[kind] = topic_arn, queue_url, dlq_url
    retry_queue = (await sqs.create_queue(QueueName=f"{prefix}-retries"))["QueueUrl"]
    raw = frozenset(kind for kind in KINDS if raw_delivery.get(kind, False))
    return FeedbackWiring(topics, queues, dead_letter_queues, retry_queue, raw)


async def _queue_with_dlq(
    sqs: Any,
    name: str,
    dlq_url: str,
    source_arn: str,
    max_receive_count: int,
    *,
    sender: str = "sns.amazonaws.com",
) -> str:
    """The queue `name`, redriving to `dlq_url`, that only `sender` acting for `source_arn` may send to."""
    dlq_arn = await _queue_arn(sqs, dlq_url)
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}
    url = str((await sqs.create_queue(QueueName=name))["QueueUrl"])
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": sender},
                "Action": "sqs:SendMessage",
                "Resource": await _queue_arn(sqs, url),
                "Condition": {"ArnEquals": {"aws:SourceArn": source_arn}},
            }
        ],
    }
    await sqs.set_queue_attributes(
        QueueUrl=url, Attributes={"RedrivePolicy": json.dumps(redrive), "Policy": json.dumps(policy)}
    )
    return url


# What the rule matches: the SES email events bounced acts on (sends, opens, clicks, ... would only be
# recorded as ignored), and not SES's account events ("Sending Status Disabled", ...), which carry no
# event-publishing record and would only be quarantined.
EVENT_PATTERN = {
    "source": [SES_SOURCE],
    "detail-type": ["Email Bounced", "Email Complaint Received", "Email Delivered", "Email Delivery Delayed"],
}
# The queue the rule feeds is the daemon's bounce queue: any queue may carry any kind.
EVENTBRIDGE_QUEUE = "bounce"


@dataclass(frozen=True, slots=True)
class EventBridgeWiring:
    """What `provision_eventbridge` created."""

    rule_arn: str
    queue: str  # queue URL the rule delivers to
    dead_letter_queue: str
    retry_queue: str  # outbound queue URL for released retries

    def environment(self) -> dict[str, str]:
        """The BOUNCED_* settings that point the daemon at the rule's queue, declared as taking
        unsigned bodies (EventBridge signs nothing: the queue policy is the guard)."""
        return {
            f"BOUNCED_{EVENTBRIDGE_QUEUE.upper()}_QUEUE_URL": self.queue,
            "BOUNCED_RETRY_QUEUE_URL": self.retry_queue,
            "BOUNCED_UNSIGNED_QUEUES": EVENTBRIDGE_QUEUE,
        }


async def provision_eventbridge(
    events: Any, sqs: Any, *, prefix: str = "bounced", max_receive_count: int = 10
) -> EventBridgeWiring:
    """Create (idempotently) a rule on the default event bus matching SES's email events, its queue
    `<prefix>-events` with a DLQ and a policy that lets only that rule send, the rule's target, and
    the retry queue. An SES configuration set's EventBridge destination then feeds it."""
    name = f"{prefix}-events"
    rule_arn = str(
        (
            await events.put_rule(
                Name=name,
                EventPattern=json.dumps(EVENT_PATTERN),
                State="ENABLED",
                Description="SES email events for bounced",
            )
        )["RuleArn"]
    )
    dlq_url = (await sqs.create_queue(QueueName=f"{name}-dlq", Attributes=DLQ_ATTRIBUTES))["QueueUrl"]
    queue_url = await _queue_with_dlq(
        sqs, name, dlq_url, rule_arn, max_receive_count, sender="events.amazonaws.com"
    )
    # One target id: putting it again replaces it, so provisioning twice changes nothing.
    target = {"Id": "bounced", "Arn": await _queue_arn(sqs, queue_url)}
    await events.put_targets(Rule=name, Targets=[target])
    retry_queue = (await sqs.create_queue(QueueName=f"{prefix}-retries"))["QueueUrl"]
    return EventBridgeWiring(rule_arn, queue_url, dlq_url, retry_queue)


async def _subscribe_once(sns: Any, topic_arn: str, queue_arn: str, *, raw: bool) -> None:
    """Subscribe the queue to the topic unless it already is (so provisioning twice changes nothing)."""
    existing = (await sns.list_subscriptions_by_topic(TopicArn=topic_arn))["Subscriptions"]
    if any(s["Endpoint"] == queue_arn for s in existing):
        return
    attributes = {"RawMessageDelivery": "true" if raw else "false"}
    await sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes=attributes)


async def _queue_arn(sqs: Any, url: str) -> str:
    reply = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(reply["Attributes"]["QueueArn"])
