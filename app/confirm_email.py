"""A change of address, confirmed from the new address: the link mailed there, and the letters.

Where nook sends email, `PATCH /v1/me {"email": ...}` leaves the account's address as it is and mails a
link to the address asked for (models.user.ask_email_change). Opening it shows a page with one button (a
GET changes nothing: mail scanners open links); the button POSTs, the address changes, and the address
left is told, so that its owner hears of a change they did not make. A link that is not the account's
waiting change (cut short, replaced by a later ask, older than a day) is a 404 and changes nothing.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from flask import Blueprint, Response, render_template
from sqlalchemy.orm import Session

from app.db import get_db
from app.web import base_url, link_page, linked_user
from models.mail import Letter, Mailer, MailNotSent, short_letter
from models.settings import get_settings
from models.user import (
    EMAIL_CHANGE_VALID,
    EmailTaken,
    User,
    ask_email_change,
    change_email,
    confirm_email_change,
    email_change_link,
    pending_email_for,
)

bp = Blueprint("confirm_email", __name__)
log = logging.getLogger(__name__)


def confirmation_letter(user: User, address: str, link: str) -> Letter:
    """The letter to the address a user asked to move to."""
    hours = int(EMAIL_CHANGE_VALID.total_seconds() // 3600)
    return short_letter(
        address,
        "Confirm your new address for nook",
        [
            f"Someone, we hope you, asked nook to use this address instead of {user.email}.",
            f"To confirm, open this link within {hours} hours and press the button there. Until then "
            "nothing changes. If it was not you, ignore this email.",
        ],
        link,
    )


def changed_letter(left: str, address: str) -> Letter:
    """The letter to the address a user left."""
    return short_letter(
        left,
        "Your nook address changed",
        [
            f"Your nook account's address is {address} now, confirmed from there; nook writes to this "
            "address no more.",
            "If you did not ask for this, replace your API key on the map page at once: whoever changed "
            "your address used it.",
        ],
    )


def change_address(session: Session, user: User, email: str) -> bool:
    """Change the user's address (`PATCH /v1/me`), or, where nook sends email, mail a link to the new
    address that makes the change; return whether a link went. ValueError, EmailTaken or AskedTooSoon as
    models.user says; MailNotSent if SES did not take the link (the caller rolls the ask back)."""
    if not get_settings().mail_from:  # no email to confirm it with, nor any sent to it
        change_email(session, user, email)
        return False
    token = ask_email_change(session, user, email, datetime.now(UTC))
    if token is None:  # the address as it is: a change that waited is dropped
        return False
    session.flush()
    mail_confirmation(user, token)
    return True


def mail_confirmation(user: User, token: str) -> None:
    """Mail the link of the change the user asked for to the address they asked for; MailNotSent if SES
    did not take it."""
    assert user.pending_email is not None
    link = email_change_link(user, token, base_url())
    Mailer().send(confirmation_letter(user, user.pending_email, link))


def _page(state: str, email: str | None = None, status: int = 200) -> Response:
    return link_page(render_template("confirm_email.html", state=state, email=email), status)


@bp.get("/confirm-email")
def ask() -> Response:
    """The page the link opens: a button that makes the change."""
    user, token = linked_user()
    address = pending_email_for(user, token, datetime.now(UTC)) if user is not None else None
    if address is None:
        return _page("unknown", status=404)
    return _page("ask", address)


@bp.post("/confirm-email")
def confirm() -> Response:
    """Change the address, and tell the address left."""
    user, token = linked_user()
    if user is None:
        return _page("unknown", status=404)
    address = user.pending_email
    try:
        left = confirm_email_change(get_db(), user, token, datetime.now(UTC))
    except EmailTaken:
        return _page("taken", address, 409)
    if left is None:
        return _page("unknown", status=404)
    get_db().flush()
    try:
        Mailer().send(changed_letter(left, user.email))
    except MailNotSent as exc:  # the change stands: the address left only hears of it
        log.warning("address left not told", extra={"user_id": user.id, "error": str(exc)[:300]})
    return _page("done", user.email)
