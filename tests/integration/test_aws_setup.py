"""deploy/docker/aws_setup.py (the compose `setup` job) against the moto server."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import botocore.session
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "docker" / "aws_setup.py"

pytestmark = pytest.mark.integration


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("aws_setup", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def clients() -> tuple[Any, Any]:
    session = botocore.session.get_session()
    return session.create_client("sqs"), session.create_client("sns")


def test_script_prints_settings_for_what_it_made(aws_env: str) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--prefix", "demo"],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ),
        timeout=60,
    )
    lines = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert set(lines) == {
        "BOUNCED_BOUNCE_QUEUE_URL",
        "BOUNCED_COMPLAINT_QUEUE_URL",
        "BOUNCED_DELIVERY_QUEUE_URL",
        "BOUNCED_RETRY_QUEUE_URL",
        "BOUNCED_ALLOWED_TOPIC_ARNS",
    }
    assert lines["BOUNCED_BOUNCE_QUEUE_URL"].endswith("/demo-bounces")
    assert lines["BOUNCED_ALLOWED_TOPIC_ARNS"].count("arn:aws:sns:") == 3


def test_topic_reaches_queue_in_an_envelope_and_failures_redrive(aws_env: str) -> None:
    made = load_script().setup("t")
    sqs, sns = clients()
    bounces = made["bounces"]
    attributes = sqs.get_queue_attributes(QueueUrl=bounces["queue_url"], AttributeNames=["All"])["Attributes"]
    redrive = json.loads(attributes["RedrivePolicy"])
    assert int(redrive["maxReceiveCount"]) == load_script().MAX_RECEIVE_COUNT
    assert redrive["deadLetterTargetArn"].endswith(":t-bounces-dlq")
    policy = json.loads(attributes["Policy"])
    assert policy["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"] == bounces["topic_arn"]

    sns.publish(TopicArn=bounces["topic_arn"], Message='{"notificationType": "Bounce"}')
    received = sqs.receive_message(QueueUrl=bounces["queue_url"], WaitTimeSeconds=2)["Messages"]
    envelope = json.loads(received[0]["Body"])
    assert envelope["TopicArn"] == bounces["topic_arn"]
    assert json.loads(envelope["Message"]) == {"notificationType": "Bounce"}


def test_running_twice_changes_nothing(aws_env: str) -> None:
    script = load_script()
    first = script.setup("t")
    second = script.setup("t")
    assert first == second
    _, sns = clients()
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=first["complaints"]["topic_arn"])
    assert len(subscriptions["Subscriptions"]) == 1
