"""`bounced provision` (the compose `setup` job) against the moto server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML (via cfn-lint) ships no stubs

from bounced.cli import main
from bounced.core import samples
from tests.support.eventbridge import events_client, put_ses_event
from tests.support.feedback import aws_clients

pytestmark = pytest.mark.integration


def provision(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, str]:
    assert main(["provision", "--json", *args]) == 0
    settings: dict[str, str] = json.loads(capsys.readouterr().out)
    return settings


def test_prints_the_settings_for_what_it_made(aws_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["provision", "--prefix", "demo"]) == 0
    lines = dict(line.split("=", 1) for line in capsys.readouterr().out.splitlines())
    assert set(lines) == {
        "BOUNCED_BOUNCE_QUEUE_URL",
        "BOUNCED_COMPLAINT_QUEUE_URL",
        "BOUNCED_DELIVERY_QUEUE_URL",
        "BOUNCED_RETRY_QUEUE_URL",
        "BOUNCED_ALLOWED_TOPIC_ARNS",
        "BOUNCED_UNSIGNED_QUEUES",
    }
    assert lines["BOUNCED_UNSIGNED_QUEUES"] == ""  # every subscription keeps the signed envelope
    assert lines["BOUNCED_BOUNCE_QUEUE_URL"].endswith("/demo-bounces")
    assert lines["BOUNCED_ALLOWED_TOPIC_ARNS"].count("arn:aws:sns:") == 3


async def test_topic_reaches_queue_in_an_envelope_and_failures_redrive(
    aws_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = await _in_thread(provision, capsys, "--prefix", "t")
    url = settings["BOUNCED_BOUNCE_QUEUE_URL"]
    topic = next(a for a in settings["BOUNCED_ALLOWED_TOPIC_ARNS"].split(",") if a.endswith(":t-bounces"))
    async with aws_clients(aws_env) as aws:
        attributes = (await aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]))["Attributes"]
        redrive = json.loads(attributes["RedrivePolicy"])
        assert int(redrive["maxReceiveCount"]) == 10
        assert redrive["deadLetterTargetArn"].endswith(":t-bounces-dlq")
        policy = json.loads(attributes["Policy"])
        assert policy["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"] == topic
        await aws.sns.publish(TopicArn=topic, Message='{"notificationType": "Bounce"}')
        received = (await aws.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2))["Messages"]
        envelope = json.loads(received[0]["Body"])
        assert envelope["TopicArn"] == topic
        assert json.loads(envelope["Message"]) == {"notificationType": "Bounce"}


async def test_running_twice_changes_nothing(aws_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    first = await _in_thread(provision, capsys, "--prefix", "t", "--raw", "complaint")
    second = await _in_thread(provision, capsys, "--prefix", "t", "--raw", "complaint")
    assert first == second
    assert first["BOUNCED_UNSIGNED_QUEUES"] == "complaint"
    topic = next(a for a in first["BOUNCED_ALLOWED_TOPIC_ARNS"].split(",") if a.endswith(":t-complaints"))
    async with aws_clients(aws_env) as aws:
        subscriptions = (await aws.sns.list_subscriptions_by_topic(TopicArn=topic))["Subscriptions"]
    assert len(subscriptions) == 1


def _last_part(value: str) -> str:
    """A queue URL's name (after the last /) or a topic ARN's (after the last :)."""
    return value.rsplit("/", 1)[-1].rsplit(":", 1)[-1]


def test_provision_makes_the_queues_and_topics_docker_compose_points_the_daemon_at(
    aws_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    compose = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text())
    services = compose["services"]
    setup, daemon = services["setup"]["command"], services["bounced"]["environment"]
    assert setup[0] == "provision"
    made = provision(capsys, *setup[1:])
    assert set(made) <= set(daemon)
    for name, value in made.items():
        expected = sorted(_last_part(v) for v in daemon[name].split(","))
        assert sorted(_last_part(v) for v in value.split(",")) == expected, name


def test_without_a_region_it_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    assert main(["provision"]) == 2
    assert "AWS_REGION: not set" in capsys.readouterr().err


async def _in_thread(func: object, *args: object) -> dict[str, str]:
    """The command runs its own event loop (asyncio.run): call it from a worker thread."""
    import asyncio  # noqa: PLC0415

    result: dict[str, str] = await asyncio.to_thread(func, *args)  # type: ignore[arg-type]
    return result


async def test_via_eventbridge_a_rule_feeds_one_queue_only_it_may_send_to(
    aws_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = await _in_thread(provision, capsys, "--via", "eventbridge", "--prefix", "e")
    assert set(settings) == {"BOUNCED_BOUNCE_QUEUE_URL", "BOUNCED_RETRY_QUEUE_URL", "BOUNCED_UNSIGNED_QUEUES"}
    assert settings["BOUNCED_UNSIGNED_QUEUES"] == "bounce"  # EventBridge signs nothing
    url = settings["BOUNCED_BOUNCE_QUEUE_URL"]
    assert url.endswith("/e-events")
    async with aws_clients(aws_env) as aws, events_client(aws_env) as events:
        rule = await events.describe_rule(Name="e-events")
        assert rule["State"] == "ENABLED"
        assert json.loads(rule["EventPattern"])["source"] == ["aws.ses"]
        attributes = (await aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]))["Attributes"]
        assert json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"].endswith(":e-events-dlq")
        (statement,) = json.loads(attributes["Policy"])["Statement"]
        assert statement["Principal"] == {"Service": "events.amazonaws.com"}
        assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == rule["Arn"]
        (target,) = (await events.list_targets_by_rule(Rule="e-events"))["Targets"]
        assert target["Arn"] == attributes["QueueArn"]
        await put_ses_event(events, samples.bounce(["a@example.org"], event=True), source="my.app")
        await put_ses_event(events, samples.bounce(["a@example.org"], event=True))
        received = (await aws.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2))["Messages"]
    (body,) = [json.loads(m["Body"]) for m in received]  # only SES's event matched
    assert (body["source"], body["detail-type"]) == ("aws.ses", "Email Bounced")
    assert body["detail"]["bounce"]["bouncedRecipients"] == [{"emailAddress": "a@example.org", **_DSN}]


_DSN = {
    "action": "failed",
    "status": "5.1.1",
    "diagnosticCode": samples.bounce()["bounce"]["bouncedRecipients"][0]["diagnosticCode"],
}


async def test_via_eventbridge_running_twice_changes_nothing(
    aws_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    first = await _in_thread(provision, capsys, "--via", "eventbridge")
    second = await _in_thread(provision, capsys, "--via", "eventbridge")
    assert first == second
    async with events_client(aws_env) as events:
        assert len((await events.list_targets_by_rule(Rule="bounced-events"))["Targets"]) == 1
        assert [r["Name"] for r in (await events.list_rules())["Rules"]] == ["bounced-events"]


def test_raw_delivery_is_no_option_of_eventbridge(aws_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["provision", "--via", "eventbridge", "--raw", "bounce"]) == 2
    assert "--raw applies to SNS subscriptions" in capsys.readouterr().err
