"""`bounced provision`: create the topics, queues, DLQs and subscriptions on an emulator (or an account).

`--via eventbridge` instead creates a rule on the default event bus that matches SES's email events,
the queue it delivers to (with a DLQ, and a policy that lets only that rule send), and the retry
queue; point an SES configuration set's EventBridge destination at the default bus.

For local stacks (the Docker Compose `setup` job, moto, LocalStack): endpoint, region and credentials come
from the AWS SDK's own variables (AWS_ENDPOINT_URL, AWS_REGION, ...). For real AWS prefer the
CloudFormation template in deploy/aws/, which also sets encryption and least-privilege policies.
Prints the BOUNCED_* settings that point the daemon at what it made. Running it twice changes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from typing import Any

from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from bounced.cli.common import EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, fail
from bounced.ingest.provision import (
    KINDS,
    EventBridgeWiring,
    FeedbackWiring,
    provision,
    provision_eventbridge,
)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "provision",
        help="create SNS topics (or an EventBridge rule), SQS queues and DLQs (for emulators and trials)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--prefix", default="bounced", help="name prefix of topics, rules and queues (default: bounced)"
    )
    parser.add_argument(
        "--via",
        choices=VIAS,
        default="sns",
        help="how SES feedback reaches the queues: SNS topics per kind, or one EventBridge rule on the"
        " default bus (default: sns)",
    )
    parser.add_argument(
        "--raw",
        action="append",
        choices=KINDS,
        default=[],
        help="subscribe this kind's queue with SNS raw message delivery (repeatable; default: enveloped)",
    )
    parser.add_argument(
        "--max-receive-count",
        type=int,
        default=10,
        help="the DLQ redrive's maxReceiveCount (default 10: above BOUNCED_MAX_RECEIVE_COUNT)",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of KEY=value lines")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if not 1 <= args.max_receive_count <= 1000:
        return fail("--max-receive-count must be from 1 to 1000", EXIT_USAGE)
    if args.via == "eventbridge" and args.raw:
        return fail("--raw applies to SNS subscriptions, not to --via eventbridge", EXIT_USAGE)
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        return fail("AWS_REGION: not set", EXIT_USAGE)
    try:
        wiring = asyncio.run(_provision(region, args))
    except (BotoCoreError, ClientError) as exc:
        return fail(f"provisioning failed: {exc}", EXIT_PROBLEM)
    settings = wiring.environment()
    if args.json:
        print(json.dumps(settings))
    else:
        print("\n".join(f"{name}={value}" for name, value in settings.items()))
    return EXIT_OK


VIAS = ("sns", "eventbridge")


async def _provision(region: str, args: argparse.Namespace) -> FeedbackWiring | EventBridgeWiring:
    if args.via == "eventbridge":
        return await _provision_eventbridge(region, args.prefix, args.max_receive_count)
    return await _provision_sns(region, args.prefix, set(args.raw), args.max_receive_count)


async def _provision_eventbridge(region: str, prefix: str, max_receive_count: int) -> EventBridgeWiring:
    session = get_session()
    async with (
        session.create_client("events", region_name=region) as events,
        session.create_client("sqs", region_name=region) as sqs,
    ):
        return await provision_eventbridge(events, sqs, prefix=prefix, max_receive_count=max_receive_count)


async def _provision_sns(region: str, prefix: str, raw: set[str], max_receive_count: int) -> FeedbackWiring:
    session = get_session()
    async with (
        session.create_client("sns", region_name=region) as sns,
        session.create_client("sqs", region_name=region) as sqs,
    ):
        return await provision(
            sns,
            sqs,
            prefix=prefix,
            raw_delivery={kind: kind in raw for kind in KINDS},
            max_receive_count=max_receive_count,
        )
