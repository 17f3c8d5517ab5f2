"""A new API key for a user who lost theirs, by a link mailed to their address.

`POST /v1/key-link {"email": ...}` (no key: that is what was lost) mails a link to the account with that
address, if there is one, where nook sends email; the answer is the same whether there is or not, so that
nobody learns from it who has an account (nor from the time it takes: app.web.evenly_timed). The link
works for an hour, once: its page shows a button (a GET changes nothing: mail scanners open links), which
gives the account a new key, shown on the page once, and the key it had stops working. A link is mailed
at most every two minutes an account, and five times a day.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint as PageBlueprint
from flask import Response, render_template
from sqlalchemy.orm import Session

from app.api import Blueprint
from app.db import get_db
from app.errors import ApiError
from app.schemas import AddressRequest, LinkAnswer
from app.web import base_url, evenly_timed, limit_link_asks, link_page, linked_user
from models.mail import Letter, send_or_undo, short_letter
from models.settings import get_settings
from models.user import (
    KEY_LINK_VALID,
    User,
    ask_key_link,
    key_link,
    key_link_valid,
    redeem_key_link,
    user_by_email,
)

blp = Blueprint("key_link", __name__, url_prefix="/v1", description="A new key, for a key lost.")
bp = PageBlueprint("new_key", __name__)
log = logging.getLogger(__name__)

ANSWER = (
    "If a nook account has this address, a link to a new key is on its way there; it works for an hour. "
    "Nothing came? Look in the spam folder, or ask again in two minutes."
)


def key_letter(user: User, link: str) -> Letter:
    """The letter with the link to a new key."""
    minutes = int(KEY_LINK_VALID.total_seconds() // 60)
    return short_letter(
        user.email,
        "A new API key for nook",
        [
            "Someone, we hope you, asked nook for a new API key for the account of this address.",
            f"To have one, open this link within {minutes} minutes and press the button there: the new key "
            "is shown once, and the key you had stops working. If it was not you, ignore this email; "
            "nothing changes.",
        ],
        link,
    )


@blp.route("/key-link", methods=["POST"])
@blp.arguments(AddressRequest, as_kwargs=False)
@blp.response(202, LinkAnswer)
@evenly_timed
def ask_key(body: dict[str, Any]) -> dict[str, Any]:
    """Lost your key? Mail a link to a new one to your account's address (no key needed). The answer is
    the same whether an account has the address or not; the link works for an hour, once, and goes at
    most every two minutes, five times a day. 409 where this nook sends no email (its operator gives new
    keys); 429 with Retry-After when this client asked for as many links within its hour as one may
    (NOOK_LINK_ASKS_AN_HOUR)."""
    if not get_settings().mail_from:
        raise ApiError(
            409, "This nook sends no email: ask its operator for a new key (`flask users rotate-key`)."
        )
    limit_link_asks()
    mail_key_link(get_db(), body["email"])
    return {"detail": ANSWER}


def mail_key_link(session: Session, address: str) -> None:
    """Mail a link to a new key to the account with this address, if there is one and no link went to it
    within KEY_LINK_EVERY. A letter SES would not take is logged and its ask undone (said to nobody: the
    answer is the same for every address)."""
    user = user_by_email(session, address, for_update=True)  # two asks at once: one link, counted once
    if user is None:
        return

    def ask() -> Letter | None:
        token = ask_key_link(user, datetime.now(UTC))
        return None if token is None else key_letter(user, key_link(user, token, base_url()))

    send_or_undo(session, ask, user_id=user.id)


def _page(state: str, key: str | None = None, status: int = 200) -> Response:
    return link_page(render_template("new_key.html", state=state, key=key), status)


@bp.get("/new-key")
def offer() -> Response:
    """The page the link opens: a button that gives the new key."""
    user, token = linked_user()
    if user is None or not key_link_valid(user, token, datetime.now(UTC)):
        return _page("unknown", status=404)
    return _page("ask")


@bp.post("/new-key")
def give() -> Response:
    """Give the account a new key and show it, once."""
    user, token = linked_user()
    key = redeem_key_link(user, token, datetime.now(UTC)) if user is not None else None
    if key is None:
        return _page("unknown", status=404)
    get_db().flush()
    log.info("new key by email", extra={"user_id": user.id})  # type: ignore[union-attr]
    return _page("done", key)
