"""Create bounced's SNS topics and SQS queues on an emulator (moto), as deploy/aws/bounced.yaml does on AWS.

The docker-compose `setup` job runs it with the bounced image's Python (botocore comes with bounced):

    python /opt/bounced/share/aws_setup.py [--prefix bounced]

For each feedback kind (bounces, complaints, deliveries): a topic, a queue with a DLQ and a redrive
policy (maxReceiveCount 10), a queue policy letting only that topic send, and an SNS subscription
(envelope kept: raw delivery off). Plus the outbound retry queue. Idempotent: run it twice, get the same.
Prints the settings that point bounced at what it made. Endpoint and credentials come from the
environment (AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, ...), as for every AWS SDK.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

import botocore.session

KINDS = {"bounces": "BOUNCE", "complaints": "COMPLAINT", "deliveries": "DELIVERY"}
MAX_RECEIVE_COUNT = 10  # above BOUNCED_MAX_RECEIVE_COUNT: bounced quarantines first


def queue_policy(queue_arn: str, topic_arn: str) -> str:
    """A policy letting only `topic_arn` send to the queue."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "FromItsTopicOnly",
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
                }
            ],
        }
    )


def queue_arn(sqs: Any, url: str) -> str:
    """The ARN of the queue at `url`."""
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    arn: str = attributes["QueueArn"]
    return arn


def create_kind(sqs: Any, sns: Any, prefix: str, kind: str) -> dict[str, str]:
    """Topic, DLQ, queue (redrive, policy) and subscription for one kind; their URLs and ARN."""
    name = f"{prefix}-{kind}"
    topic = sns.create_topic(Name=name)["TopicArn"]
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq", Attributes={"MessageRetentionPeriod": "1209600"})[
        "QueueUrl"
    ]
    redrive = {"deadLetterTargetArn": queue_arn(sqs, dlq_url), "maxReceiveCount": str(MAX_RECEIVE_COUNT)}
    url = sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": json.dumps(redrive)})["QueueUrl"]
    arn = queue_arn(sqs, url)
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": queue_policy(arn, topic)})
    subscribed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    if not any(s["Endpoint"] == arn for s in subscribed):
        sns.subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=arn,
            Attributes={"RawMessageDelivery": "false"},
            ReturnSubscriptionArn=True,
        )
    return {"topic_arn": topic, "queue_url": url, "dlq_url": dlq_url}


def setup(prefix: str) -> dict[str, dict[str, str]]:
    """Create everything; returns per kind its topic ARN and queue URLs, and the retry queue URL."""
    session = botocore.session.get_session()
    sqs = session.create_client("sqs")
    sns = session.create_client("sns")
    made = {kind: create_kind(sqs, sns, prefix, kind) for kind in KINDS}
    made["retries"] = {"queue_url": sqs.create_queue(QueueName=f"{prefix}-retries")["QueueUrl"]}
    return made


def settings(made: dict[str, dict[str, str]]) -> list[str]:
    """The BOUNCED_* lines pointing bounced at what `setup` made."""
    lines = [f"BOUNCED_{setting}_QUEUE_URL={made[kind]['queue_url']}" for kind, setting in KINDS.items()]
    lines.append(f"BOUNCED_RETRY_QUEUE_URL={made['retries']['queue_url']}")
    topics = ",".join(made[kind]["topic_arn"] for kind in KINDS)
    lines.append(f"BOUNCED_ALLOWED_TOPIC_ARNS={topics}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: create everything, print the settings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--prefix", default="bounced", help="name prefix of topics and queues")
    args = parser.parse_args(argv)
    made = setup(args.prefix)
    sys.stdout.write("\n".join(settings(made)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
