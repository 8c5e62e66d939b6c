"""Realistic SES feedback, built to order: the one source of sample JSON for tests, demo and bench.

Builders return the SES document as a dict (notification format, or event-publishing format with
`event=True`); `dumps` turns it into the JSON text SES sends, `sns_wrap` puts that text into an SNS
Notification envelope, `eventbridge_event` puts an event-publishing record into the EventBridge
event a rule delivers to SQS, and `subscription_confirmation` builds the SNS housekeeping message. The
shapes follow the SES developer guide's examples (mail headers and commonHeaders included), so a
body is 2-3 KB like the real thing. Signatures are placeholders: nothing here is signed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

Document = dict[str, Any]

TIMESTAMP = "2026-03-02T10:15:30.123Z"
MAIL_TIMESTAMP = "2026-03-02T10:15:28.000Z"
MESSAGE_ID = "0100018e0a1b2c3d-4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8-000000"
FEEDBACK_ID = "0100018e0a1b2f00-1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d-000000"
SOURCE = "newsletter@mail.example.com"
TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:ses-feedback"
ACCOUNT = "123456789012"


def mail(
    destination: Sequence[str] = ("recipient@example.org",),
    *,
    message_id: str = MESSAGE_ID,
    timestamp: str = MAIL_TIMESTAMP,
    event: bool = False,
) -> Document:
    """The `mail` object: SES's record of the message it sent, headers included."""
    to = ", ".join(destination)
    document: Document = {
        "timestamp": timestamp,
        "source": f"Example Newsletter <{SOURCE}>",
        "sourceArn": f"arn:aws:ses:eu-west-1:{ACCOUNT}:identity/mail.example.com",
        "sendingAccountId": ACCOUNT,
        "messageId": message_id,
        "destination": list(destination),
        "headersTruncated": False,
        "headers": [
            {
                "name": "Received",
                "value": "from app-3.internal (app-3.internal [10.0.3.17]) by "
                "smtp.mail.example.com with ESMTPSA id 4a7b8c9d for <" + to + ">; Mon, 02 Mar 2026 "
                "10:15:27 +0000",
            },
            {"name": "From", "value": f"Example Newsletter <{SOURCE}>"},
            {"name": "Reply-To", "value": "support@example.com"},
            {"name": "To", "value": to},
            {"name": "Subject", "value": "Your March digest: five things worth reading"},
            {"name": "MIME-Version", "value": "1.0"},
            {"name": "Content-Type", "value": 'multipart/alternative; boundary="----=_Part_7_1234"'},
            {
                "name": "List-Unsubscribe",
                "value": "<https://example.com/u/8f3a2c1e>, <mailto:unsubscribe+8f3a2c1e@mail.example.com>",
            },
            {"name": "List-Unsubscribe-Post", "value": "List-Unsubscribe=One-Click"},
            {"name": "Message-ID", "value": "<20260302101527.8f3a2c1e@app-3.internal>"},
            {"name": "X-Campaign", "value": "digest-2026-03"},
        ],
        "commonHeaders": {
            "from": [f"Example Newsletter <{SOURCE}>"],
            "replyTo": ["support@example.com"],
            "date": "Mon, 02 Mar 2026 10:15:27 +0000",
            "to": list(destination),
            "messageId": "<20260302101527.8f3a2c1e@app-3.internal>",
            "subject": "Your March digest: five things worth reading",
        },
    }
    if event:
        document["tags"] = {
            "ses:configuration-set": ["newsletter"],
            "ses:source-ip": ["192.0.2.15"],
            "ses:from-domain": ["mail.example.com"],
            "ses:caller-identity": ["newsletter-sender"],
            "campaign": ["digest-2026-03"],
        }
    else:
        document["sourceIp"] = "192.0.2.15"
        document["callerIdentity"] = "newsletter-sender"
    return document


def _feedback(
    type_name: str, key: str, payload: Document, destination: Sequence[str], *, message_id: str, event: bool
) -> Document:
    return {
        ("eventType" if event else "notificationType"): type_name,
        key: payload,
        "mail": mail(destination, message_id=message_id, event=event),
    }


def bounce(
    recipients: Sequence[str] = ("recipient@example.org",),
    *,
    bounce_type: str = "Permanent",
    subtype: str = "General",
    status: str | None = "5.1.1",
    diagnostic: str | None = "smtp; 550 5.1.1 <recipient@example.org>: Recipient address rejected: "
    "User unknown in virtual mailbox table",
    event: bool = False,
    message_id: str = MESSAGE_ID,
    feedback_id: str = FEEDBACK_ID,
    timestamp: str = TIMESTAMP,
) -> Document:
    """A Bounce; `status=None` gives recipients without DSN fields (as SES sends for suppressions)."""
    bounced = []
    for address in recipients:
        entry: Document = {"emailAddress": address}
        if status is not None:
            entry.update(action="failed", status=status, diagnosticCode=diagnostic)
        bounced.append(entry)
    payload: Document = {
        "bounceType": bounce_type,
        "bounceSubType": subtype,
        "bouncedRecipients": bounced,
        "timestamp": timestamp,
        "feedbackId": feedback_id,
    }
    if status is not None:
        payload.update(
            remoteMtaIp="198.51.100.25", reportingMTA="dsn; a27-30.smtp-out.eu-west-1.amazonses.com"
        )
    return _feedback("Bounce", "bounce", payload, recipients, message_id=message_id, event=event)


def complaint(
    recipients: Sequence[str] = ("recipient@example.org",),
    *,
    feedback_type: str | None = "abuse",
    subtype: str | None = None,
    event: bool = False,
    message_id: str = MESSAGE_ID,
    feedback_id: str = FEEDBACK_ID,
    timestamp: str = TIMESTAMP,
) -> Document:
    """A Complaint; `feedback_type=None` is the common case of an ISP that sends no report type."""
    payload: Document = {
        "complainedRecipients": [{"emailAddress": address} for address in recipients],
        "timestamp": timestamp,
        "feedbackId": feedback_id,
        "complaintSubType": subtype,
    }
    if feedback_type is not None:
        payload.update(
            userAgent="Mozilla/5.0 (compatible; FBL/1.0; +https://postmaster.example.net)",
            complaintFeedbackType=feedback_type,
            arrivalDate="2026-03-02T10:15:29.000Z",
        )
    return _feedback("Complaint", "complaint", payload, recipients, message_id=message_id, event=event)


def delivery(
    recipients: Sequence[str] = ("recipient@example.org",),
    *,
    event: bool = False,
    message_id: str = MESSAGE_ID,
    timestamp: str = TIMESTAMP,
) -> Document:
    """A Delivery: the receiving server accepted the mail."""
    payload: Document = {
        "timestamp": timestamp,
        "processingTimeMillis": 546,
        "recipients": list(recipients),
        "smtpResponse": "250 2.6.0 Message received",
        "remoteMtaIp": "198.51.100.25",
        "reportingMTA": "a27-30.smtp-out.eu-west-1.amazonses.com",
    }
    return _feedback("Delivery", "delivery", payload, recipients, message_id=message_id, event=event)


def delivery_delay(
    recipients: Sequence[str] = ("recipient@example.org",),
    *,
    delay_type: str = "MailboxFull",
    status: str = "4.2.2",
    diagnostic: str = "smtp; 452 4.2.2 The email account that you tried to reach is over quota",
    message_id: str = MESSAGE_ID,
    timestamp: str = TIMESTAMP,
) -> Document:
    """A DeliveryDelay event (event publishing only)."""
    payload: Document = {
        "delayType": delay_type,
        "expirationTime": "2026-03-03T10:15:28.000Z",
        "delayedRecipients": [
            {"emailAddress": address, "status": status, "diagnosticCode": diagnostic}
            for address in recipients
        ],
        "timestamp": timestamp,
        "reportingMTA": "a27-30.smtp-out.eu-west-1.amazonses.com",
    }
    return _feedback("DeliveryDelay", "deliveryDelay", payload, recipients, message_id=message_id, event=True)


def send_event(
    destination: Sequence[str] = ("recipient@example.org",), *, message_id: str = MESSAGE_ID
) -> Document:
    """A Send event: SES accepted the request (its payload is an empty object)."""
    return _feedback("Send", "send", {}, destination, message_id=message_id, event=True)


def reject_event(
    destination: Sequence[str] = ("recipient@example.org",), *, message_id: str = MESSAGE_ID
) -> Document:
    """A Reject event: SES refused to send the message (a virus, say)."""
    return _feedback(
        "Reject", "reject", {"reason": "Bad content"}, destination, message_id=message_id, event=True
    )


def open_event(
    destination: Sequence[str] = ("recipient@example.org",), *, message_id: str = MESSAGE_ID
) -> Document:
    """An Open event."""
    payload = {
        "ipAddress": "192.0.2.1",
        "timestamp": TIMESTAMP,
        "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15",
    }
    return _feedback("Open", "open", payload, destination, message_id=message_id, event=True)


def click_event(
    destination: Sequence[str] = ("recipient@example.org",), *, message_id: str = MESSAGE_ID
) -> Document:
    """A Click event."""
    payload = {
        "ipAddress": "192.0.2.1",
        "timestamp": TIMESTAMP,
        "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)",
        "link": "https://example.com/articles/five-things?utm_source=digest",
        "linkTags": {"samplekey0": ["samplevalue0"]},
    }
    return _feedback("Click", "click", payload, destination, message_id=message_id, event=True)


def rendering_failure_event(
    destination: Sequence[str] = ("recipient@example.org",), *, message_id: str = MESSAGE_ID
) -> Document:
    """A Rendering Failure event: a template variable was missing."""
    payload = {
        "errorMessage": "Attribute 'favoritecolor' is not present in the rendering data.",
        "templateName": "DigestTemplate",
    }
    return _feedback("Rendering Failure", "failure", payload, destination, message_id=message_id, event=True)


def subscription_event(
    destination: Sequence[str] = ("recipient@example.org",), *, message_id: str = MESSAGE_ID
) -> Document:
    """A Subscription event: a contact changed their topic preferences."""
    payload = {
        "contactList": "Newsletter",
        "timestamp": TIMESTAMP,
        "source": "UnsubscribeHeader",
        "newTopicPreferences": {
            "unsubscribeAll": True,
            "topicSubscriptionStatus": [{"topicName": "digest", "subscriptionStatus": "OptOut"}],
        },
        "oldTopicPreferences": {
            "unsubscribeAll": False,
            "topicSubscriptionStatus": [{"topicName": "digest", "subscriptionStatus": "OptIn"}],
        },
    }
    return _feedback("Subscription", "subscription", payload, destination, message_id=message_id, event=True)


def dumps(document: Document) -> str:
    """The JSON text SES would publish for `document`."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def _placeholder_signature(topic_arn: str) -> Document:
    region = topic_arn.split(":")[3] if topic_arn.count(":") >= 5 else "eu-west-1"
    return {
        "SignatureVersion": "1",
        "Signature": "UNSIGNED" + "A" * 336,  # the shape of a base64 RSA-2048 signature, not one
        "SigningCertURL": f"https://sns.{region}.amazonaws.com/SimpleNotificationService-0000000000000000.pem",
    }


def sns_wrap(
    message_json: str,
    *,
    topic_arn: str = TOPIC_ARN,
    message_id: str = "5f0e2b4c-1d3a-5e6f-8a9b-0c1d2e3f4a5b",
    timestamp: str = "2026-03-02T10:15:31.456Z",
    subject: str | None = None,
) -> str:
    """An SNS Notification envelope around `message_json` (raw message delivery off), unsigned."""
    envelope: Document = {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": topic_arn,
        "Message": message_json,
        "Timestamp": timestamp,
        **_placeholder_signature(topic_arn),
        "UnsubscribeURL": f"https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={topic_arn}:"
        "2c7a1f4e-0b3d-4c5e-9f6a-7b8c9d0e1f2a",
    }
    if subject is not None:
        envelope["Subject"] = subject
    return json.dumps(envelope)


# The detail-type EventBridge gives each SES eventType.
DETAIL_TYPES = {
    "Send": "Email Sent",
    "Delivery": "Email Delivered",
    "Bounce": "Email Bounced",
    "Complaint": "Email Complaint Received",
    "Reject": "Email Rejected",
    "Open": "Email Opened",
    "Click": "Email Clicked",
    "Rendering Failure": "Email Rendering Failed",
    "DeliveryDelay": "Email Delivery Delayed",
    "Subscription": "Email Subscribed",
}


def eventbridge_event(
    detail: Document,
    *,
    event_id: str = "3e8b5c6a-1f2d-4e3c-9b8a-7d6c5b4a3f2e",
    account: str | None = ACCOUNT,
    source: str = "aws.ses",
    time: str = "2026-03-02T10:15:31Z",
    region: str = "eu-west-1",
) -> str:
    """The EventBridge event an SES configuration set publishes for the event-publishing record
    `detail` (built with `event=True`), as a rule with an SQS target puts it on the queue.
    `account=None` leaves the account out (as moto does)."""
    event: Document = {
        "version": "0",
        "id": event_id,
        "detail-type": DETAIL_TYPES[detail["eventType"]],
        "source": source,
        "account": account,
        "time": time,
        "region": region,
        "resources": [f"arn:aws:ses:{region}:{account or ACCOUNT}:configuration-set/newsletter"],
        "detail": detail,
    }
    if account is None:
        del event["account"]
    return json.dumps(event)


def subscription_confirmation(
    *,
    topic_arn: str = TOPIC_ARN,
    sns_type: str = "SubscriptionConfirmation",
    token: str = "2336412f37fb687f5d51e6e2425c464de12884d4f95dfb1d2d8b8fd3aaa2cd1a",  # noqa: S107  # a sample
) -> str:
    """An SNS SubscriptionConfirmation (or, with `sns_type`, UnsubscribeConfirmation) envelope."""
    return json.dumps(
        {
            "Type": sns_type,
            "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
            "Token": token,
            "TopicArn": topic_arn,
            "Message": f"You have chosen to subscribe to the topic {topic_arn}.\n"
            "To confirm the subscription, visit the SubscribeURL included in this message.",
            "SubscribeURL": f"https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={topic_arn}&Token={token}",
            "Timestamp": "2026-03-02T09:00:00.000Z",
            **_placeholder_signature(topic_arn),
        }
    )
