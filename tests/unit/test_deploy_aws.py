"""deploy/aws/bounced.yaml: cfn-lint clean, and the wiring the daemon relies on is there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML (via cfn-lint) ships no stubs

from bounced.core.envelope import DETAIL_TYPES
from bounced.ingest.provision import EVENT_PATTERN
from bounced.service.config import Settings, load_settings

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "aws" / "bounced.yaml"
KINDS = ("Bounce", "Complaint", "Delivery")


class CfnLoader(yaml.SafeLoader):  # type: ignore[misc]
    """Reads CloudFormation's short-form tags (!Ref, !GetAtt, !If, ...) as their long forms."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix in ("Ref", "Condition"):  # their long forms have no Fn:: prefix
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _intrinsic)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(TEMPLATE.read_text(), Loader=CfnLoader)  # noqa: S506 -- SafeLoader subclass
    return loaded


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def test_cfn_lint_is_clean() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(TEMPLATE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_feedback_queue_redrives_to_its_dlq(template: dict[str, Any]) -> None:
    # Above BOUNCED_MAX_RECEIVE_COUNT's default, so bounced quarantines before SQS dead-letters.
    assert template["Parameters"]["MaxReceiveCount"]["Default"] > Settings().max_receive_count
    for kind in KINDS:
        redrive = template["Resources"][f"{kind}Queue"]["Properties"]["RedrivePolicy"]
        assert redrive == {
            "deadLetterTargetArn": {"Fn::GetAtt": [f"{kind}DeadLetterQueue", "Arn"]},
            "maxReceiveCount": {"Ref": "MaxReceiveCount"},
        }


def test_only_its_topic_may_send_to_each_queue(template: dict[str, Any]) -> None:
    for kind in KINDS:
        policy = template["Resources"][f"{kind}QueuePolicy"]["Properties"]
        assert policy["Queues"] == [{"Ref": f"{kind}Queue"}]
        (statement,) = policy["PolicyDocument"]["Statement"]
        assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
        assert statement["Action"] == "sqs:SendMessage"
        assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Ref": f"{kind}Topic"}}}


def test_subscriptions_keep_the_envelope_by_default(template: dict[str, Any]) -> None:
    assert template["Parameters"]["RawMessageDelivery"]["Default"] == "false"
    for kind in KINDS:
        sub = template["Resources"][f"{kind}Subscription"]["Properties"]
        assert sub["TopicArn"] == {"Ref": f"{kind}Topic"}
        assert sub["Endpoint"] == {"Fn::GetAtt": [f"{kind}Queue", "Arn"]}
        assert sub["RawMessageDelivery"] == {"Ref": "RawMessageDelivery"}


def test_everything_is_encrypted_at_rest(template: dict[str, Any]) -> None:
    queues = resources(template, "AWS::SQS::Queue")
    assert len(queues) == 9
    assert all(q["Properties"]["SqsManagedSseEnabled"] is True for q in queues.values())
    topics = resources(template, "AWS::SNS::Topic")
    assert len(topics) == 3
    assert all(t["Properties"]["KmsMasterKeyId"] == {"Ref": "TopicKey"} for t in topics.values())


def test_daemon_policy_is_least_privilege(template: dict[str, Any]) -> None:
    statements = template["Resources"]["DaemonPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    by_sid = {s["Sid"]: s for s in statements}
    assert set(by_sid) == {
        "ConsumeFeedback",
        "WatchDeadLetterQueues",
        "AnnounceRetries",
        "SesSuppressionList",
    }
    assert all(s["Effect"] == "Allow" for s in statements)
    assert set(by_sid["ConsumeFeedback"]["Action"]) == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
    }
    assert set(by_sid["WatchDeadLetterQueues"]["Action"]) == {"sqs:GetQueueAttributes", "sqs:GetQueueUrl"}
    assert "sqs:SendMessage" in by_sid["AnnounceRetries"]["Action"]
    assert by_sid["AnnounceRetries"]["Resource"] == {"Fn::GetAtt": ["RetryQueue", "Arn"]}
    # SES's suppression list is the account's: its actions take no resource ARN, hence "*" there only.
    assert by_sid["SesSuppressionList"]["Action"] == [
        "ses:PutSuppressedDestination",
        "ses:DeleteSuppressedDestination",
        "ses:ListSuppressedDestinations",
    ]
    for statement in statements:
        if statement["Sid"] != "SesSuppressionList":
            assert "*" not in str(statement["Resource"])
        assert all(not action.endswith("*") for action in statement["Action"])


def test_outputs_give_what_the_settings_need(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    for name in (
        "BounceQueueUrl",
        "ComplaintQueueUrl",
        "DeliveryQueueUrl",
        "RetryQueueUrl",
        "BounceTopicArn",
        "ComplaintTopicArn",
        "DeliveryTopicArn",
        "AllowedTopicArns",
        "DaemonPolicyArn",
    ):
        assert name in outputs


def test_raw_delivery_comes_with_the_unsigned_queues_setting(template: dict[str, Any]) -> None:
    assert template["Conditions"]["WithRawDelivery"] == {
        "Fn::And": [{"Condition": "ViaSns"}, {"Fn::Equals": [{"Ref": "RawMessageDelivery"}, "true"]}]
    }
    output = template["Outputs"]["UnsignedQueues"]
    assert output["Condition"] == "WithRawDelivery"  # enveloped subscriptions: no queue takes raw bodies
    assert "BOUNCED_UNSIGNED_QUEUES" in output["Description"]
    with_deliveries, without = output["Value"]["Fn::If"][1:]
    assert output["Value"]["Fn::If"][0] == "WithDeliveries"
    assert load_settings({"BOUNCED_UNSIGNED_QUEUES": with_deliveries}).unsigned_queues == {
        "bounce",
        "complaint",
        "delivery",
    }
    assert load_settings({"BOUNCED_UNSIGNED_QUEUES": without}).unsigned_queues == {"bounce", "complaint"}


EVENTBRIDGE_RESOURCES = {
    "ConfigurationSet",
    "EventDestination",
    "EventsDeadLetterQueue",
    "EventsQueue",
    "EventsRule",
    "EventsQueuePolicy",
}


def test_feedback_comes_either_through_sns_or_through_eventbridge(template: dict[str, Any]) -> None:
    assert template["Parameters"]["FeedbackVia"]["Default"] == "sns"
    assert template["Parameters"]["FeedbackVia"]["AllowedValues"] == ["sns", "eventbridge"]
    sns_only = {"TopicKey", "TopicKeyAlias", "TopicPolicy"} | {
        f"{kind}{part}"
        for kind in KINDS
        for part in ("Topic", "Queue", "DeadLetterQueue", "QueuePolicy", "Subscription")
    }
    for name, resource in template["Resources"].items():
        condition = resource.get("Condition")
        if name in EVENTBRIDGE_RESOURCES:
            assert condition in {"ViaEventBridge", "NewConfigurationSet"}, name
        elif name.startswith("Delivery"):
            assert condition == "WithDeliveries", name
        elif name in sns_only:
            assert condition == "ViaSns", name
        else:
            assert condition is None, name  # the retry queue and the daemon policy: both ways
    assert template["Conditions"]["WithDeliveries"]["Fn::And"][0] == {"Condition": "ViaSns"}


def test_the_eventbridge_rule_feeds_its_queue_and_only_it_may_send(template: dict[str, Any]) -> None:
    rule = template["Resources"]["EventsRule"]["Properties"]
    assert rule["EventBusName"] == "default"  # SES publishes to the default bus only
    assert rule["EventPattern"] == EVENT_PATTERN  # as `bounced provision --via eventbridge` makes it
    assert EVENT_PATTERN["source"] == ["aws.ses"]
    assert set(EVENT_PATTERN["detail-type"]) <= set(DETAIL_TYPES)
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["EventsQueue", "Arn"]}
    policy = template["Resources"]["EventsQueuePolicy"]["Properties"]
    assert policy["Queues"] == [{"Ref": "EventsQueue"}]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["EventsRule", "Arn"]}}}
    redrive = template["Resources"]["EventsQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["EventsDeadLetterQueue", "Arn"]}


def test_the_configuration_set_publishes_to_the_default_bus(template: dict[str, Any]) -> None:
    destination = template["Resources"]["EventDestination"]["Properties"]["EventDestination"]
    assert destination["Enabled"] is True
    bus = destination["EventBridgeDestination"]["EventBusArn"]["Fn::Sub"]
    assert bus.endswith(":event-bus/default")
    types = [t for t in destination["MatchingEventTypes"] if isinstance(t, str)]
    assert {"bounce", "complaint", "deliveryDelay"} <= set(types)
    assert {"Fn::If": ["DeliveriesWanted", "delivery", {"Ref": "AWS::NoValue"}]} in destination[
        "MatchingEventTypes"
    ]


def test_eventbridge_outputs_give_what_the_settings_need(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert "BOUNCED_BOUNCE_QUEUE_URL" in outputs["EventsQueueUrl"]["Description"]
    unsigned = outputs["EventsUnsignedQueues"]
    assert "BOUNCED_UNSIGNED_QUEUES" in unsigned["Description"]
    assert load_settings({"BOUNCED_UNSIGNED_QUEUES": unsigned["Value"]}).unsigned_queues == {"bounce"}
    assert outputs["AllowedAccounts"]["Description"] == "BOUNCED_ALLOWED_ACCOUNTS"
    for name in ("EventsQueueUrl", "EventsUnsignedQueues", "AllowedAccounts", "SesConfigurationSet"):
        assert outputs[name]["Condition"] == "ViaEventBridge"
