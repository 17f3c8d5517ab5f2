"""An account of one's own: a renter signs up by a link mailed to their address (NOOK_OPEN_SIGN_UP).

`POST /v1/sign-up {"email": ...}` (no key: there is none yet) mails the address a link; its page's button
makes the account, with its alerts by email, and shows its API key once. An address that has an account
is told so in the letter instead (and how to have a new key), so the answer, and the time it takes
(app.web.evenly_timed), are the same either way. models.sign_up bounds the letters an address gets.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint as PageBlueprint
from flask import Response, render_template
from sqlalchemy.orm import Session

from app.api import Blueprint
from app.db import get_db
from app.errors import ApiError
from app.schemas import AddressRequest, LinkAnswer
from app.web import base_url, evenly_timed, limit_link_asks, link_page, linked
from models.mail import Letter, send_or_undo, short_letter
from models.settings import get_settings
from models.sign_up import (
    SIGN_UP_VALID,
    SignUp,
    ask_sign_up,
    complete_sign_up,
    hour_full,
    sign_up_valid,
)
from models.user import EmailTaken

blp = Blueprint("sign_up", __name__, url_prefix="/v1", description="An account of one's own.")
bp = PageBlueprint("sign_up_page", __name__)

ANSWER = (
    "A link to make your account is on its way to this address; it works for an hour. Nothing came? Look "
    "in the spam folder, or ask again in two minutes."
)
SUBJECT = "Your nook account"


def sign_up_letter(address: str, link: str) -> Letter:
    """The letter with the link that makes the account."""
    minutes = int(SIGN_UP_VALID.total_seconds() // 60)
    return short_letter(
        address,
        SUBJECT,
        [
            "Someone, we hope you, asked to make a nook account with this address.",
            f"To make it, open this link within {minutes} minutes and press the button there: your API key "
            "is shown once, and nook emails you the listings that appear in the areas you draw. If it was "
            "not you, ignore this email; no account is made.",
        ],
        link,
    )


def had_letter(address: str, page: str) -> Letter:
    """The letter to an address that has an account already."""
    return short_letter(
        address,
        SUBJECT,
        [
            "Someone, we hope you, asked to make a nook account with this address. It has one already, so "
            "no other was made.",
            "Lost its API key? Ask for a link to a new one under \u201cLost your key?\u201d on nook's map "
            "page:",
        ],
        page,
    )


@blp.route("/sign-up", methods=["POST"])
@blp.arguments(AddressRequest, as_kwargs=False)
@blp.response(202, LinkAnswer)
@evenly_timed
def sign_up(body: dict[str, Any]) -> dict[str, Any]:
    """Make an account: mail a link that makes it to your address (no key needed). The answer is the same
    whether an account has the address or not (its letter says so); the link works for an hour, once,
    and an address gets at most three letters a day, two minutes apart. 409 where this nook makes no
    accounts itself (its operator does); 429 with Retry-After when it mailed as many sign-up letters
    within the hour as it mails (NOOK_SIGN_UPS_AN_HOUR), or this client asked for as many links within its
    hour as one may (NOOK_LINK_ASKS_AN_HOUR)."""
    settings = get_settings()
    if not settings.signing_up:
        raise ApiError(409, "This nook makes no accounts itself: ask its operator for one.")
    limit_link_asks()
    wait = hour_full(get_db(), datetime.now(UTC), settings.sign_ups_an_hour)
    if wait is not None:
        raise ApiError(
            429, "Many accounts were asked for within the hour: ask again later.", retry_after=wait
        )
    mail_sign_up(get_db(), body["email"])
    return {"detail": ANSWER}


def mail_sign_up(session: Session, address: str) -> None:
    """Mail `address` a link that makes its account (or, if it has one, a letter saying so), if it may
    have a letter now. A letter SES would not take is logged and its ask undone."""

    def ask() -> Letter | None:
        asked = ask_sign_up(session, address, datetime.now(UTC))
        if asked is None:
            return None
        row, token = asked
        home = base_url()
        return (
            sign_up_letter(address, f"{home}/sign-up?s={row.id}&t={token}")
            if token
            else had_letter(address, f"{home}/")
        )

    send_or_undo(session, ask)


def _page(state: str, status: int = 200, **values: Any) -> Response:
    return link_page(render_template("sign_up.html", state=state, **values), status)


@bp.get("/sign-up")
def offer() -> Response:
    """The page the link opens: a button that makes the account."""
    row, token = linked(SignUp, "s")
    if row is None or not sign_up_valid(row, token, datetime.now(UTC)):
        return _page("unknown", status=404)
    if not get_settings().signing_up:
        return _page("closed", status=409)
    return _page("ask", email=row.email)


@bp.post("/sign-up")
def make() -> Response:
    """Make the account and show its key, once."""
    row, token = linked(SignUp, "s", for_update=True)
    if row is None:
        return _page("unknown", status=404)
    if (
        not get_settings().signing_up
    ):  # closed since the link went: it makes nothing (and may work if they open again)
        return _page("closed", status=409)
    try:
        made = complete_sign_up(get_db(), row, token, datetime.now(UTC))
    except EmailTaken:
        return _page("had")
    if made is None:
        return _page("unknown", status=404)
    user, key = made
    get_db().flush()
    return _page("done", key=key, email=user.email)
