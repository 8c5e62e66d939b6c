"""deploy/aws/bounced.yaml: cfn-lint clean, and the wiring the daemon relies on is there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML (via cfn-lint) ships no stubs

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
    if suffix == "Ref":
        return {"Ref": value}
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
    assert len(queues) == 7
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
        "Fn::Equals": [{"Ref": "RawMessageDelivery"}, "true"]
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
