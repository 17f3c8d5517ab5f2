"""SES's word on the emails nook sent: an address that bounced for good, or whose reader marked an email
as spam, gets no more email.

SES publishes a bounce or complaint to an SNS topic, which delivers it to an SQS queue
(NOOK_MAIL_FEEDBACK_QUEUE); the notify job reads the queue before it sends (`read_feedback`). A
permanent bounce or a complaint about a user's address turns their email alerts off and says why
(`users.email_trouble`, shown by /v1/me and the map page): their alerts go to their webhook, if any,
or wait on nook's alert list, rather than into an address that takes nothing, and SES (which holds an
account to a bounce rate under 5% and a complaint rate under 0.1%) is not sent it again. A transient
bounce (a full mailbox) changes nothing: SES tried again already. A message that is no SES
notification is quarantined (stage `mail`) with the reason; every message leaves the queue only once
what it said is committed, so a run that fails part way leaves the rest to the next.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parseaddr
from typing import Any

from sqlalchemy.orm import Session

from models.normalize import CONTROL, unstorable
from models.quarantine import BadRecord, quarantine
from models.session import session_scope
from models.settings import get_settings
from models.user import user_by_email

log = logging.getLogger("nook.jobs.mail_feedback")

MAX_TROUBLE = 300  # characters of the reason kept
# what else SES tells (identity notifications, a configuration set's events): read, and nothing to do
OTHER_EVENTS = frozenset(
    {"Delivery", "Send", "Reject", "Open", "Click", "Rendering Failure", "DeliveryDelay", "Subscription"}
)


class NotFeedback(ValueError):
    """A queue message that is no SES bounce or complaint notification nook can read."""


@dataclass(frozen=True)
class Feedback:
    """What SES said of one recipient: `stop` whether nook must stop emailing them, and why."""

    address: str
    stop: bool
    reason: str
    at: datetime
    sent_at: datetime | None = None  # when the email it is about was sent


def _notification(body: str) -> dict[str, Any]:
    """The SES notification in a queue message: inside SNS's envelope, or the message itself (SNS's raw
    message delivery)."""
    try:
        message = json.loads(body)
    except ValueError:
        raise NotFeedback("not JSON") from None
    if isinstance(message, dict) and "Message" in message and "Type" in message:  # SNS's envelope
        message = message["Message"]
        if isinstance(message, str):
            try:
                message = json.loads(message)
            except ValueError:
                raise NotFeedback("the SNS message is not JSON") from None
    if not isinstance(message, dict):
        raise NotFeedback("not a JSON object")
    return message


def _when(value: Any, fallback: datetime | None) -> datetime | None:
    if isinstance(value, str):
        try:
            at = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return fallback
        return at if at.tzinfo else at.replace(tzinfo=UTC)
    return fallback


def _recipients(entries: Any, kind: str) -> list[str]:
    if not isinstance(entries, list) or not entries:
        raise NotFeedback(f"a {kind} without recipients")
    addresses = []
    for entry in entries:
        address = entry.get("emailAddress") if isinstance(entry, dict) else None
        if not isinstance(address, str) or "@" not in parseaddr(address)[1]:
            raise NotFeedback(f"a {kind} recipient without an address: {str(entry)[:100]}")
        addresses.append(parseaddr(address)[1])
    return addresses


def parse(body: str, received: datetime) -> list[Feedback]:
    """What a queue message says of each recipient it names (none for a delivery, or any other event
    nook does not act on); NotFeedback if it is no SES notification."""
    message = _notification(body)
    if fault := unstorable(message):  # a NUL or half a surrogate pair: no statement could store it
        raise NotFeedback(fault)
    mail = message.get("mail")
    sent_at = _when(mail.get("timestamp"), None) if isinstance(mail, dict) else None
    kind = message.get("notificationType") or message.get("eventType")  # identity or configuration set
    if not isinstance(kind, str):
        raise NotFeedback("no notificationType or eventType: not an SES notification")
    if kind == "Bounce":
        bounce = message.get("bounce")
        if not isinstance(bounce, dict):
            raise NotFeedback("a Bounce without its bounce")
        at = _when(bounce.get("timestamp"), received)
        permanent = bounce.get("bounceType") == "Permanent"
        feedback = []
        for entry, address in zip(
            bounce.get("bouncedRecipients") or [],
            _recipients(bounce.get("bouncedRecipients"), "bounce"),
            strict=True,
        ):
            said = entry.get("diagnosticCode") or bounce.get("bounceSubType") or "no reason given"
            reason = CONTROL.sub(" ", f"your address bounced ({bounce.get('bounceType')}: {said})")
            feedback.append(Feedback(address, permanent, reason[:MAX_TROUBLE], at, sent_at))
        return feedback
    if kind == "Complaint":
        complaint = message.get("complaint")
        if not isinstance(complaint, dict):
            raise NotFeedback("a Complaint without its complaint")
        at = _when(complaint.get("timestamp"), received)
        reason = "an email from nook was marked as spam at your address"
        return [
            Feedback(address, True, reason, at, sent_at)
            for address in _recipients(complaint.get("complainedRecipients"), "complaint")
        ]
    if kind in OTHER_EVENTS:
        return []  # nothing to do
    raise NotFeedback(f"an SES notification of a kind nook does not know: {kind[:60]!r}")


def apply(session: Session, feedback: Feedback) -> str:
    """Stop emailing the user with this address if SES says so; return what came of it: `stopped`,
    `ignored` (nothing to do), `no_user` (an address nook no longer has: changed, deleted since) or
    `stale` (about an email sent before the user turned email alerts on again: SNS delivers a message
    more than once, and the emails sent before the first bounce was read bounce too)."""
    if not feedback.stop:
        return "ignored"
    user = user_by_email(session, feedback.address)
    if user is None:
        return "no_user"
    since = user.email_alerts_since
    if since is not None and (feedback.sent_at or feedback.at) < since:
        return "stale"
    user.email_alerts = False
    user.email_trouble, user.email_trouble_at = feedback.reason, feedback.at
    log.warning("email alerts stopped", extra={"user_id": user.id, "reason": feedback.reason})
    return "stopped"


def wire(queue: str, domain: str, sqs: Any, sns: Any, ses: Any) -> dict[str, str]:
    """Have SES tell of bounces and complaints for `domain` (a verified identity) through an SNS topic
    into the SQS queue `queue`, both named `queue`; idempotent (each call creates what is missing and sets
    the rest again); return the queue's URL and the topic's ARN. `ses` is an SES (v1 API) client: it
    sets the identity's notification topics."""
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = sns.create_topic(Name=queue)["TopicArn"]
    policy = {  # the topic may send to the queue, nothing else may
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)  # the same subscription again
    for kind in ("Bounce", "Complaint"):
        ses.set_identity_notification_topic(Identity=domain, NotificationType=kind, SnsTopic=topic)
    return {"queue_url": url, "topic_arn": topic}


def _queue_url(sqs: Any, queue: str) -> str:
    return (
        queue if queue.startswith(("https://", "http://")) else sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    )


def read_feedback(deadline: float | None = None, max_messages: int = 1000) -> dict[str, Any]:
    """Read the feedback queue until it is empty (or `deadline`, time.monotonic(), or `max_messages`);
    return counts. Nothing to read without NOOK_MAIL_FEEDBACK_QUEUE."""
    queue = get_settings().mail_feedback_queue
    counts = {"messages": 0, "stopped": 0, "no_user": 0, "stale": 0, "ignored": 0, "quarantined": 0}
    if not queue:
        return counts
    import boto3  # the batch stage's: not at import time

    sqs = boto3.client("sqs")
    url = _queue_url(sqs, queue)
    while counts["messages"] < max_messages and (deadline is None or time.monotonic() < deadline):
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=60
        ).get("Messages", [])
        if not batch:
            break
        now = datetime.now(UTC)
        with session_scope() as session:
            for message in batch:
                _read_one(session, message, now, counts)
        # only once what they said is committed: a failure before leaves them to the next run
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(batch)],
        )
        counts["messages"] += len(batch)
    if counts["messages"]:
        log.info("mail feedback read", extra={"counts": counts})
    return counts


def _read_one(session: Session, message: dict[str, Any], now: datetime, counts: dict[str, int]) -> None:
    body = message.get("Body", "")
    try:
        said = parse(body, now)
    except NotFeedback as exc:
        try:
            payload, raw = json.loads(body), None
        except ValueError:
            payload, raw = None, body
        if not isinstance(payload, dict) or unstorable(payload):  # kept as the text it came as
            payload, raw = None, body
        quarantine(
            session, [BadRecord(stage="mail", reason=f"mail feedback: {exc}", payload=payload, raw=raw)]
        )
        counts["quarantined"] += 1
        log.warning("mail feedback quarantined", extra={"reason": str(exc)})
        return
    if not said:
        counts["ignored"] += 1
    for feedback in said:
        counts[apply(session, feedback)] += 1
