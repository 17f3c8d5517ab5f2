"""/v1/alerts and /v1/me: the caller's notifications, where they go (webhook or email), key and
account."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Response
from sqlalchemy import or_

from app.api import Blueprint
from app.auth import SECURITY, auth_required, current_user
from app.confirm_email import change_address
from app.db import get_db
from app.errors import ApiError
from app.pagination import newest_first
from app.schemas import (
    AlertArgs,
    AlertPageSchema,
    MeChange,
    MeSchema,
    NewKeyBody,
    NewKeySchema,
    WebhookBody,
)
from app.search import base_query, listing_item, owned_region
from models.account import delete_account
from models.hidden import not_hidden
from models.mail import MailNotSent
from models.matching import SENDABLE
from models.region import Notification, Region
from models.settings import get_settings
from models.user import (
    AskedTooSoon,
    EmailTaken,
    User,
    alerts_to,
    give_key,
    known_time_zone,
    next_message_at,
    pending_email_until,
    turn_email_alerts_on,
    user_place,
)
from models.webhooks import WebhookNotAllowed, check_webhook_url

log = logging.getLogger(__name__)
blp = Blueprint("alerts", __name__, url_prefix="/v1", description="Your alerts and where they are delivered.")


@blp.route("/alerts")
@auth_required
@blp.doc(security=SECURITY)
@blp.arguments(AlertArgs, location="query", as_kwargs=False)
@blp.response(200, AlertPageSchema)
def alerts(args: dict[str, Any]) -> dict[str, Any]:
    """Your notifications, newest first (of one of your regions, or with one status, if asked)."""

    query = (
        base_query()
        .with_only_columns(
            *base_query().selected_columns,
            Notification.id.label("alert_id"),
            Notification.created_at,
            Notification.status,
            Notification.sent_at,
            Notification.sent_via,
            Notification.reason,
            Region.id.label("region_id"),
            Region.name.label("region_name"),
        )
        .join(Notification, Notification.listing_id == base_query().selected_columns.id)
        .join(Region, Region.id == Notification.region_id)
        .where(Notification.user_id == current_user().id)
        # sent, or still to be sent: not one the notify job will withdraw (its region no longer wants it);
        # and none of a flat the user hid
        .where(or_(Notification.status == "sent", SENDABLE), not_hidden(get_db(), current_user().id))
    )
    if "region_id" in args:
        query = query.where(
            Notification.region_id == owned_region(get_db(), current_user().id, args["region_id"])
        )
    if "status" in args:
        query = query.where(Notification.status == args["status"])
    if "reason" in args:
        query = query.where(Notification.reason == args["reason"])
    keys = (Notification.created_at, Notification.id)
    rows, cursor = newest_first(get_db(), query, keys, "alerts", args, lambda r: (r.created_at, r.alert_id))
    items = [
        {
            "id": r.alert_id,
            "created_at": r.created_at,
            "status": r.status,
            "sent_at": r.sent_at,
            "sent_via": r.sent_via,
            "reason": r.reason,
            "region": {"id": r.region_id, "name": r.region_name},
            "listing": listing_item(r),
        }
        for r in rows
    ]
    return {"items": items, "next_cursor": cursor}


def _me() -> dict[str, Any]:
    user = current_user()
    old_until = user.old_key_expires_at
    next_at = next_message_at(get_db(), user, datetime.now(UTC))
    until = pending_email_until(user)
    waiting = until is not None and until > datetime.now(UTC)  # an expired link waits for nothing
    return {
        "id": user.id,
        "email": user.email,
        "webhook_url": user.webhook_url,
        "email_alerts": user.email_alerts,
        "alerts_to": alerts_to(user),
        "email_available": bool(get_settings().mail_from),
        "alerts_every_minutes": user.alert_every_minutes,
        "next_alerts_at": next_at,
        "api_key_prefix": user.api_key_prefix,
        "old_key_valid_until": old_until if old_until and old_until > datetime.now(UTC) else None,
        "email_trouble": None
        if user.email_trouble is None
        else {"reason": user.email_trouble, "at": user.email_trouble_at},
        "pending_email": user.pending_email if waiting else None,
        "pending_email_until": until if waiting else None,
        "place": user_place(user),
        "quiet_hours": user_quiet_hours(user),
        "viewing_reminder_minutes": reminder_minutes(user),
    }


@blp.route("/me")
@auth_required
@blp.doc(security=SECURITY)
@blp.response(200, MeSchema)
def me() -> dict[str, Any]:
    """Who you are, and where your alerts go."""
    return _me()


@blp.route("/me/webhook", methods=["PUT"])
@auth_required
@blp.doc(security=SECURITY)
@blp.arguments(WebhookBody, as_kwargs=False)
@blp.response(200, MeSchema)
def set_webhook(body: dict[str, Any]) -> dict[str, Any]:
    """Set the URL your alerts are posted to (http/https, public addresses only)."""
    try:
        url = check_webhook_url(body["url"], allow_private=get_settings().allow_private_webhooks)
    except WebhookNotAllowed as exc:
        raise ApiError(422, f"url: {exc}", field="json.url") from None
    current_user().webhook_url = url
    return _me()


@blp.route("/me/webhook", methods=["DELETE"])
@auth_required
@blp.doc(security=SECURITY)
@blp.response(204)
def delete_webhook() -> Response:
    """Forget your webhook: nothing is posted to it any more (alerts stay listed under /v1/alerts, and
    still come by email if email alerts are on)."""
    current_user().webhook_url = None
    return Response(status=204)


def check_hold(user: User, body: dict[str, Any]) -> None:
    """422 if the pace and the quiet hours the user would have could hold an alert back past the hours
    alerts are sent for here (NOOK_ALERT_MAX_AGE_HOURS): it would expire before its message went."""
    minutes = body.get("alerts_every_minutes", user.alert_every_minutes)
    quiet = body["quiet_hours"] if "quiet_hours" in body else user_quiet_hours(user)
    quiet_minutes = (quiet["until"] - quiet["from_"]) % 24 * 60 if quiet else 0
    max_age = get_settings().alert_max_age_hours
    if minutes + quiet_minutes < max_age * 60:
        return
    field = "alerts_every_minutes" if "alerts_every_minutes" in body else "quiet_hours"
    together = " with your quiet hours" if quiet_minutes else ""
    raise ApiError(
        422,
        f"{field}: alerts are sent for {max_age:g} hours only here, and your pace{together} could hold one "
        "back longer; ask for less.",
        field=f"json.{field}",
    )


def reminder_minutes(user: User) -> int:
    """How long before a viewing the user is reminded of it, in minutes: theirs, or the operator's."""
    if user.viewing_reminder_minutes is not None:
        return user.viewing_reminder_minutes
    return get_settings().viewing_reminder_minutes


def user_quiet_hours(user: User) -> dict[str, Any] | None:
    """The user's quiet hours as the API gives them (None: none)."""
    if user.quiet_from is None:
        return None
    return {"from_": user.quiet_from, "until": user.quiet_until, "time_zone": user.quiet_time_zone}


def require_time_zone(name: str, field: str) -> None:
    """422 naming the body's `field` (quiet_hours.time_zone) for a time zone PostgreSQL does not know."""
    if not known_time_zone(get_db(), name):
        raise ApiError(
            422,
            f"{field}: not a time zone nook knows (an IANA name: America/Toronto, Europe/Paris)",
            field=f"json.{field}",
        )


def set_quiet_hours(user: User, quiet: dict[str, Any] | None) -> None:
    """Keep the user's quiet hours (None: none); 422 for a time zone PostgreSQL does not know."""
    if quiet is None:
        user.quiet_from = user.quiet_until = user.quiet_time_zone = None
        return
    require_time_zone(quiet["time_zone"], "quiet_hours.time_zone")
    user.quiet_from, user.quiet_until, user.quiet_time_zone = (
        quiet["from_"],
        quiet["until"],
        quiet["time_zone"],
    )


@blp.route("/me", methods=["PATCH"])
@auth_required
@blp.doc(security=SECURITY)
@blp.arguments(MeChange, as_kwargs=False)
@blp.response(200, MeSchema)
@blp.alt_response(
    202,
    schema=MeSchema,
    description="A link went to the new address; the address changes once it is opened (`pending_email`).",
)
def change_me(body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Change your address (`email`; 409 if another account has it), your `place` (null: none), your
    `quiet_hours` (null: none), how long before a viewing you are reminded of it
    (`viewing_reminder_minutes`; null: this nook's lead) or how your alerts come:
    `alerts_every_minutes` sends what is due at most that often (0: as they come; 60: an hour's at most
    once an hour; up to 1440, a day's). Where this nook sends email, a new address is confirmed from
    there: the answer is a 202, a link goes to it, and the address changes when it is opened (within a
    day; asking again replaces the link, asking for your address as it is drops the change; 429 if you
    asked a moment ago)."""
    check_hold(current_user(), body)
    if "alerts_every_minutes" in body:
        current_user().alert_every_minutes = body["alerts_every_minutes"]
    if "place" in body:
        place, user = body["place"] or {}, current_user()
        user.place_lat, user.place_lon = place.get("latitude"), place.get("longitude")
    if "quiet_hours" in body:
        set_quiet_hours(current_user(), body["quiet_hours"])
    if "viewing_reminder_minutes" in body:
        current_user().viewing_reminder_minutes = body["viewing_reminder_minutes"]
    status = 200
    if "email" in body:
        user = current_user()
        try:
            status = 202 if change_address(get_db(), user, body["email"]) else 200
        except EmailTaken:
            raise ApiError(409, "email: another account has this address.", field="json.email") from None
        except ValueError as exc:
            raise ApiError(422, f"email: {exc}.", field="json.email") from None
        except AskedTooSoon as exc:
            raise ApiError(429, f"email: {exc}.", field="json.email", retry_after=exc.seconds) from None
        except MailNotSent as exc:
            log.warning("address change not mailed", extra={"user_id": user.id, "error": str(exc)[:300]})
            raise ApiError(
                503,
                f"nook could not mail the link to {user.pending_email} just now; your address is unchanged. "
                "Try again in a minute.",
                retry_after=60,
            ) from None
    return _me(), status


@blp.route("/me/email-alerts", methods=["PUT"])
@auth_required
@blp.doc(security=SECURITY)
@blp.response(200, MeSchema)
def email_alerts_on() -> dict[str, Any]:
    """Have your alerts and saved listings' news emailed to your account's address instead of posted
    to your webhook (409 if this nook sends no email); after SES stopped them (`email_trouble`), once the
    address takes email again."""
    if not get_settings().mail_from:
        raise ApiError(
            409, "This nook sends no email (its operator has not set NOOK_MAIL_FROM); use a webhook."
        )
    turn_email_alerts_on(current_user())
    return _me()


@blp.route("/me/email-alerts", methods=["DELETE"])
@auth_required
@blp.doc(security=SECURITY)
@blp.response(200, MeSchema)
def email_alerts_off() -> dict[str, Any]:
    """Stop emailing your alerts: they go to your webhook again, if you have one."""
    current_user().email_alerts = False
    return _me()


@blp.route("/me/key", methods=["POST"])
@auth_required
@blp.doc(security=SECURITY)
@blp.arguments(NewKeyBody, as_kwargs=False)
@blp.response(200, NewKeySchema)
def new_key(body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Replace your API key (one that leaked, or any time): the answer holds the new key, shown this
    once; the key you called with stops working at once, or after keep_old_key_minutes (no body: at
    once)."""
    key = give_key(current_user(), keep_old=timedelta(minutes=body["keep_old_key_minutes"]))
    return {**_me(), "api_key": key}, 200, {"Cache-Control": "no-store"}  # a secret: kept by no cache


@blp.route("/me", methods=["DELETE"])
@auth_required
@blp.doc(security=SECURITY)
@blp.response(204)
def delete_me() -> Response:
    """Delete your account: your regions, alerts, saved and hidden listings go with it, and your exports,
    and your key stops working."""
    delete_account(get_db(), current_user())
    return Response(status=204)
