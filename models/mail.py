"""Mail: a user's alerts by email, sent through Amazon SES (locally, moto's).

NOOK_MAIL_FROM names the sender, an address (or a domain) SES lets this account send from; unset, nook
sends no email and nobody can turn email alerts on. A message goes as MIME (plain text and HTML).
Should the job stop between SES taking a message and the commit that marks its alerts sent, the next run
mails them again: a webhook's receiver drops such a repeat by its Idempotency-Key, but SES takes none,
so a reader sees that email twice.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from html import escape
from typing import TYPE_CHECKING, Any

from models.settings import get_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

# SES's answers that mean "not now" rather than "not this": try again after the usual backoff
_THROTTLED = {"TooManyRequestsException", "Throttling", "ThrottlingException"}
# the account's daily quota is spent: no use trying before the next hour
_QUOTA = {"LimitExceededException"}


def sender_domain(sender: str) -> str:
    """The domain of a sender ("nook <alerts@example.com>": example.com), SES's identity for it."""
    return parseaddr(sender)[1].rpartition("@")[2]


class MailNotSent(Exception):
    """SES did not take the message: why, and how long to wait at least before trying again (s)."""

    def __init__(self, reason: str, wait_seconds: float = 0.0):
        super().__init__(reason)
        self.wait_seconds = wait_seconds


@dataclass
class Letter:
    """One email: to whom, its subject, and its body as plain text and as HTML."""

    to: str
    subject: str
    text: str
    html: str
    unsubscribe: str | None = None  # the link that stops these emails, offered to the reader's mail app

    def mime(self, sender: str) -> bytes:
        message = EmailMessage()
        message["From"] = sender
        message["To"] = self.to
        message["Subject"] = self.subject
        message["Date"] = formatdate(time.time(), usegmt=True)
        message["Message-ID"] = make_msgid(domain=sender_domain(sender) or None)
        if self.unsubscribe:  # one click in the mail app's own "unsubscribe" (RFC 2369, RFC 8058)
            message["List-Unsubscribe"] = f"<{self.unsubscribe}>"
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.set_content(self.text)
        message.add_alternative(self.html, subtype="html")
        return message.as_bytes()


def short_letter(to: str, subject: str, lines: list[str], link: str | None = None) -> Letter:
    """A short letter of plain sentences (and one link) as text and HTML: an account's letters (a change
    of address, a new key)."""
    text = "\n\n".join(lines + ([link] if link else []))
    paragraphs = "".join(f"<p>{escape(line)}</p>" for line in lines)
    if link:
        paragraphs += f'<p><a href="{escape(link)}">{escape(link)}</a></p>'
    return Letter(to=to, subject=subject, text=text + "\n", html=f"<html><body>{paragraphs}</body></html>")


class Mailer:
    """Sends letters through SES v2 (the client made on first use, with short timeouts: a run has a
    deadline)."""

    def __init__(self, sender: str | None = None, client: Any = None):
        self.sender = sender if sender is not None else get_settings().mail_from
        self._client = client

    @property
    def enabled(self) -> bool:
        return bool(self.sender)

    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            config = Config(
                connect_timeout=5, read_timeout=10, retries={"max_attempts": 2, "mode": "standard"}
            )
            self._client = boto3.client("sesv2", config=config)
        return self._client

    def send(self, letter: Letter, budget: float | None = None) -> str:
        """Hand the letter to SES; return its message id. MailNotSent if SES did not take it."""
        from botocore.exceptions import BotoCoreError, ClientError

        if not self.sender:
            raise MailNotSent("this nook sends no email (NOOK_MAIL_FROM is not set)")
        if budget is not None and budget < 1:
            raise MailNotSent("no time left in this run")
        try:
            raw = letter.mime(self.sender)
        except (ValueError, UnicodeError) as exc:  # an address or header no email can carry
            raise MailNotSent(f"cannot write an email to {letter.to!r}: {exc}"[:500]) from None
        try:
            answer = self.client().send_email(
                FromEmailAddress=self.sender,
                Destination={"ToAddresses": [letter.to]},
                Content={"Raw": {"Data": raw}},
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            text = exc.response.get("Error", {}).get("Message", "") or str(exc)
            wait = 3600.0 if code in _QUOTA else 0.0
            kind = "throttled" if code in _THROTTLED else "refused"
            raise MailNotSent(f"SES {kind} the email: {code}: {text}"[:500], wait) from None
        except BotoCoreError as exc:
            raise MailNotSent(f"SES did not answer: {type(exc).__name__}: {exc}"[:500]) from None
        return str(answer.get("MessageId", ""))


def local_outbox(endpoint: str) -> list[EmailMessage]:
    """The emails a local SES (moto at `endpoint`) took, oldest first, parsed. Local use only: real SES
    keeps nothing to read back."""
    with urllib.request.urlopen(f"{endpoint.rstrip('/')}/moto-api/data.json", timeout=10) as answer:
        sent = json.load(answer).get("ses", {}).get("RawMessage", [])
    return [email.message_from_string(m["raw_data"], policy=email.policy.default) for m in sent]  # type: ignore[misc]


def send_or_undo(session: Session, ask: Callable[[], Letter | None], **context: Any) -> None:
    """Take an ask that mails a letter (a link to a new key, to a new account) in a savepoint: `ask`
    records it and gives the letter it calls for (None: none may go now), which is sent once the ask is
    written. A letter SES would not take undoes the ask, so the next is not held back, and is logged with
    `context` (said to nobody: such asks answer the same whatever happens)."""
    try:
        with session.begin_nested():
            letter = ask()
            if letter is not None:
                session.flush()
                Mailer().send(letter)
    except MailNotSent as exc:
        log.warning("letter not sent", extra={**context, "error": str(exc)[:300]})
