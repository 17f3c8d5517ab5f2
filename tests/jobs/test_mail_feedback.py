"""SES's bounces and complaints, through SNS and SQS (moto's), read by the notify job before it sends: an
address that bounced for good, or marked an email as spam, gets no more email, and its user is told why."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest
from sqlalchemy import select

from jobs import notify
from models.mail import Letter, Mailer
from models.quarantine import QuarantinedRecord
from models.session import session_scope
from models.user import User, alerts_to, create_user

QUEUE = "nook-mail-feedback-test"
BOUNCED_AT = "2026-12-01T10:00:00.000Z"


def bounce(
    address: str, kind: str = "Permanent", code: str = "smtp; 550 5.1.1 user unknown", key="notificationType"
):
    """An SES bounce notification as SES writes it (identity notifications; `eventType` for a
    configuration set's event publishing)."""
    return {
        key: "Bounce",
        "bounce": {
            "bounceType": kind,
            "bounceSubType": "General" if kind == "Permanent" else "MailboxFull",
            "bouncedRecipients": [
                {"emailAddress": address, "action": "failed", "status": "5.1.1", "diagnosticCode": code}
            ],
            "timestamp": BOUNCED_AT,
            "feedbackId": "0100018c-bounce",
        },
        "mail": {
            "timestamp": "2026-12-01T09:59:58.000Z",
            "source": "alerts@nook.test",
            "messageId": "0100018c-sent",
            "destination": [address],
        },
    }


def complaint(address: str):
    return {
        "notificationType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": address}],
            "timestamp": "2026-12-01T11:00:00.000Z",
            "feedbackId": "0100018c-complaint",
            "complaintFeedbackType": "abuse",
        },
        "mail": {
            "timestamp": "2026-12-01T10:30:00.000Z",
            "source": "alerts@nook.test",
            "destination": [address],
        },
    }


@pytest.fixture
def feedback(moto_endpoint, setting):
    """The queue SES's topic delivers to (as services.bootstrap_aws wires it), named in the settings;
    returns the topic's ARN and the queue's URL."""
    sqs, sns = boto3.client("sqs"), boto3.client("sns")
    url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = sns.create_topic(Name=QUEUE)["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    setting("NOOK_MAIL_FEEDBACK_QUEUE", QUEUE)
    return topic, url


def users(*emails: str) -> None:
    with session_scope() as session:
        for email in emails:
            user, _ = create_user(session, email)
            user.email_alerts = True
            user.webhook_url = "https://hooks.example.com/" + email.split("@")[0]


def user(email: str) -> User:
    with session_scope() as session:
        found = session.scalar(select(User).where(User.email == email))
        session.expunge(found)
        return found


def test_a_hard_bounce_or_a_complaint_stops_the_emails_and_says_why(committed, feedback, lambda_context):
    topic, url = feedback
    users(
        "gone@example.com",
        "full@example.com",
        "spam.marker@example.com",
        "fine@example.com",
        "again@example.com",
        "lines@example.com",
    )
    with session_scope() as session:  # turned email alerts on again after the email that bounced went
        again = session.scalar(select(User).where(User.email == "again@example.com"))
        again.email_alerts_since = datetime(2026, 12, 1, 10, 5, tzinfo=UTC)
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    for message in (
        bounce("gone@example.com"),
        bounce("full@example.com", kind="Transient", code="smtp; 452 4.2.2 mailbox full"),
        complaint("Spam.Marker@Example.com"),
        bounce("nobody@example.com"),  # no user has it (any more)
        bounce("again@example.com"),  # about an email sent before they turned email on again
        bounce("lines@example.com", code="smtp; 550-5.1.1 no such user\r\n550 5.1.1 see you"),
        bounce("gone@example.com", code="smtp; 550 \u0000"),  # no statement could store it
        {"notificationType": "Delivery", "delivery": {"recipients": ["fine@example.com"]}},
        {"notificationType": "Bounce"},  # no bounce in it
    ):
        sns.publish(TopicArn=topic, Message=json.dumps(message))
    sns.publish(TopicArn=topic, Message="not json at all")
    # a configuration set's event, delivered raw (no SNS envelope)
    sqs.send_message(
        QueueUrl=url, MessageBody=json.dumps(bounce("fine@example.com", kind="Transient", key="eventType"))
    )

    result = notify.run({"kwargs": {}}, lambda_context)
    assert result["status"] == "succeeded", result
    assert result["mail_feedback"] == {
        "messages": 11,
        "stopped": 3,
        "no_user": 1,
        "stale": 1,
        "ignored": 3,
        "quarantined": 3,
    }
    gone, full, marker, fine = (
        user(e)
        for e in ("gone@example.com", "full@example.com", "spam.marker@example.com", "fine@example.com")
    )
    assert not gone.email_alerts and alerts_to(gone) == "webhook"  # the alerts go to the webhook instead
    assert gone.email_trouble == "your address bounced (Permanent: smtp; 550 5.1.1 user unknown)"
    assert gone.email_trouble_at == datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert (
        not marker.email_alerts
        and marker.email_trouble == "an email from nook was marked as spam at your address"
    )
    assert full.email_alerts and fine.email_alerts and full.email_trouble is None is fine.email_trouble
    assert user("again@example.com").email_alerts
    # the mail server's reply on one line
    assert user("lines@example.com").email_trouble == (
        "your address bounced (Permanent: smtp; 550-5.1.1 no such user  550 5.1.1 see you)"
    )
    with session_scope() as session:
        filed = sorted(
            session.scalars(select(QuarantinedRecord.reason).where(QuarantinedRecord.stage == "mail"))
        )
    assert filed == [
        "mail feedback: a Bounce without its bounce",
        "mail feedback: bounce.bouncedRecipients[0].diagnosticCode: holds a NUL character (\\u0000), which "
        "cannot be stored",
        "mail feedback: the SNS message is not JSON",
    ]
    # every message left the queue once read: the next run reads nothing again
    assert notify.run({"kwargs": {}}, lambda_context)["mail_feedback"]["messages"] == 0


def test_a_queue_that_cannot_be_read_keeps_no_alert_from_going(
    committed, moto_endpoint, setting, lambda_context
):
    setting("NOOK_MAIL_FEEDBACK_QUEUE", "no-such-queue")
    result = notify.run({"kwargs": {}}, lambda_context)
    assert result["status"] == "succeeded"
    assert (
        "NonExistentQueue" in result["mail_feedback"]["error"]
        or "does not exist" in (result["mail_feedback"]["error"])
    )
    assert "sent" in result  # the alerts' pass ran


def test_feedback_setup_wires_ses_to_the_queue_and_bounces_come_through(
    committed, moto_endpoint, setting, runner, lambda_context
):
    # the operator's one command (README, Deploying), as `services up` wires it locally
    from jobs.cli import mail_group

    unset = runner.invoke(mail_group, ["feedback-setup"])
    assert unset.exit_code == 1 and "NOOK_MAIL_FROM is not set" in unset.output
    setting("NOOK_MAIL_FROM", "nook <alerts@nook.test>")
    boto3.client("sesv2").create_email_identity(EmailIdentity="nook.test")
    for _ in range(2):  # again: nothing twice
        done = runner.invoke(mail_group, ["feedback-setup"])
        assert done.exit_code == 0, done.output
    assert "set NOOK_MAIL_FEEDBACK_QUEUE=nook-mail-feedback in the batch stage" in done.output
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    [topic] = [t["TopicArn"] for t in sns.list_topics()["Topics"]]
    url = sqs.get_queue_url(QueueName="nook-mail-feedback")["QueueUrl"]
    [subscription] = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert subscription["Protocol"] == "sqs" and subscription["Endpoint"].endswith(":nook-mail-feedback")
    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    )
    [allowed] = policy["Statement"]
    assert allowed["Principal"] == {"Service": "sns.amazonaws.com"}
    assert allowed["Condition"] == {"ArnEquals": {"aws:SourceArn": topic}}

    # the identity tells the topic (moto does not list it back): an alert email to moto's simulator's
    # bounce address comes back through it (moto's notification is of no type SES sends, and is filed as
    # such); an SES-shaped bounce of a user stops their email
    setting("NOOK_MAIL_FEEDBACK_QUEUE", "nook-mail-feedback")
    Mailer().send(Letter(to="bounce@simulator.amazonses.com", subject="t", text="t", html="<p>t</p>"))
    users("bounced@example.com")
    sns.publish(TopicArn=topic, Message=json.dumps(bounce("bounced@example.com")))
    counts = notify.run({"kwargs": {}}, lambda_context)["mail_feedback"]
    assert (counts["messages"], counts["quarantined"], counts["stopped"]) == (2, 1, 1)
    with session_scope() as session:
        [reason] = session.scalars(select(QuarantinedRecord.reason).where(QuarantinedRecord.stage == "mail"))
    assert reason.endswith("of a kind nook does not know: 'Bounce, Complaint, or Delivery.'")
    assert not user("bounced@example.com").email_alerts
