"""/unsubscribe: the link in every alert email, which turns email alerts off without signing in.

The link names the user and a random token of theirs (models.user.unsubscribe_link). Opening it shows a
page with one button (a GET changes nothing: mail scanners open links); the button, or the reader's mail
app acting on the List-Unsubscribe-Post header (RFC 8058), POSTs to it and email alerts go off. A link
that names nobody, or with a wrong token, is a 404 and changes nothing.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, render_template

from app.web import link_page, linked_user
from models.user import User

bp = Blueprint("unsubscribe", __name__)


def _holder() -> User | None:
    """The user the link names, if its token is theirs."""
    user, token = linked_user()
    if (
        user is None
        or not user.mail_token
        or not hmac.compare_digest(user.mail_token.encode(), token.encode())
    ):
        return None
    return user


def _page(state: str, user: User | None, status: int = 200) -> Response:
    html = render_template("unsubscribe.html", state=state, email=user.email if user else None)
    return link_page(html, status)


@bp.get("/unsubscribe")
def confirm() -> Response:
    """The page the email's link opens: a button that stops the emails."""
    user = _holder()
    if user is None:
        return _page("unknown", None, 404)
    return _page("ask" if user.email_alerts else "off", user)


@bp.post("/unsubscribe")
def unsubscribe() -> Response:
    """Turn the user's email alerts off (the page's button, or the mail app's one click)."""
    user = _holder()
    if user is None:
        return _page("unknown", None, 404)
    user.email_alerts = False
    return _page("off", user)
