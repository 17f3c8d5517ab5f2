"""/v1/me/saved: the caller's shortlist of listings, each with its price when saved and what became of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Response
from sqlalchemy import DateTime, Float, Select, case, cast, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.sql import ColumnElement

from app.alerts import require_time_zone
from app.api import Blueprint
from app.auth import SECURITY, auth_required, current_user
from app.db import get_db
from app.errors import ApiError
from app.pagination import SortSpec, keyset_page, newest_first
from app.schemas import (
    CalendarFeedSchema,
    SavedArgs,
    SavedChangeBody,
    SavedPageSchema,
    SavedSchema,
    ShareBody,
    ShareSchema,
)
from app.search import VALUE, base_query, forget_kept, kept_item, metres_from, shown_flat
from app.web import base_url
from models import saved as saved_model
from models.calendar import Viewing, calendar
from models.explain import since_saved
from models.listing import NOT_SAYING, Listing, stands_for
from models.saved import saved_flats, viewing_clashes, viewing_local
from models.user import MAX_RATING, SavedListing, User

blp = Blueprint(
    "saved", __name__, url_prefix="/v1/me/saved", description="Your saved listings, and what became of them."
)


def saved_query(user_id: int) -> Select:
    """The caller's saved listings as the flats they stand for, with what the listing API shows of each."""
    return saved_flats(
        user_id,
        *base_query().selected_columns,
        Listing.status,
        Listing.last_seen_at,
        SavedListing.listing_id.label("saved_id"),
        SavedListing.saved_at,
        SavedListing.price.label("saved_price"),
        SavedListing.note,
        SavedListing.stage,
        SavedListing.stage_at,
        SavedListing.viewing_at,
        SavedListing.viewing_time_zone,
        viewing_local().label("viewing_local"),
        SavedListing.rating,
    )


def _item(row: Any, clashes: dict[int, list[Any]]) -> dict[str, Any]:
    """A saved flat as the API gives it; `clashes`: the user's viewing_clashes."""
    return {
        "listing": kept_item(row),
        "saved_at": row.saved_at,
        "saved_price": row.saved_price,
        "still_listed": row.status in ("active", "pending"),  # pending: a change of it being read
        "since_saved": since_saved(row.saved_price, row.price, row.status, row.last_seen_at),
        "note": row.note,
        "stage": row.stage,
        "stage_at": row.stage_at,
        "viewing": _viewing(row, clashes.get(row.id, [])),
        "rating": row.rating,
    }


def _viewing(row: Any, clashes: list[Any]) -> dict[str, Any] | None:
    if row.viewing_at is None:
        return None
    local = row.viewing_local.isoformat(timespec="minutes")
    return {
        "at": row.viewing_at,
        "local": local,
        "time_zone": row.viewing_time_zone,
        "clashes": [
            {"listing_id": c.id, "title": c.title, "price": c.price, "at": c.viewing_at} for c in clashes
        ],
    }


def _clashes(user_id: int) -> dict[int, list[Any]]:
    return viewing_clashes(get_db(), user_id, datetime.now(UTC))


MAX_VIEWING_AHEAD = timedelta(days=366)


def _viewing_values(viewing: dict[str, Any] | None) -> dict[str, Any]:
    """The columns of a viewing booked (None: none); 422 for a time zone PostgreSQL does not know, or a
    time past or more than a year ahead."""
    if viewing is None:
        return {"viewing_at": None, "viewing_time_zone": None, "viewing_told_at": None}
    session = get_db()
    zone = viewing["time_zone"]
    require_time_zone(zone, "viewing.time_zone")
    at = viewing["at"]
    if at.tzinfo is None:  # a time on the clock of `zone`
        at = session.scalar(select(func.timezone(zone, literal(at, DateTime()))))
    now = datetime.now(UTC)
    if not now < at <= now + MAX_VIEWING_AHEAD:
        raise ApiError(422, "viewing.at: a viewing booked is ahead, within a year", field="json.viewing.at")
    return {"viewing_at": at, "viewing_time_zone": zone}


@blp.route("")
@auth_required
@blp.doc(security=SECURITY)
@blp.arguments(SavedArgs, location="query", as_kwargs=False)
@blp.response(200, SavedPageSchema)
def saved(args: dict[str, Any]) -> dict[str, Any]:
    """Your saved listings, last saved first (or by `sort`: price, value, the soonest viewing, distance):
    each as it is now (its price against the price when you saved it, or that it is no longer listed),
    with your note and where you are with it; `stage` for only those at one stage."""
    user = current_user()
    query = saved_query(user.id)
    if "stage" in args:
        stage = args["stage"]
        query = query.where(SavedListing.stage.is_(None) if stage == "none" else SavedListing.stage == stage)
    place = args.get("distance_from")
    if place is None and args["sort"] == "distance":
        if user.place_lat is None:
            raise ApiError(
                422, "sort=distance needs distance_from (lat,lon), or your place", field="query.sort"
            )
        place = (user.place_lat, user.place_lon)
    if place is not None:
        query = query.add_columns(metres_from(*place).label("distance_m"))
    if args["sort"] == "saved":
        keys = (SavedListing.saved_at, SavedListing.listing_id)
        rows, cursor = newest_first(get_db(), query, keys, "saved", args, lambda r: (r.saved_at, r.saved_id))
    else:
        rows, cursor = _sorted(query, args, place)
    clashes = _clashes(user.id)
    return {"items": [_item(r, clashes) for r in rows], "next_cursor": cursor}


# a sort key after every other (the move-in order's flats not saying when too): no price, no longer
# listed, no viewing ahead
LAST = NOT_SAYING * 10
RATING_STEP = 1e11  # a star's worth of the rating order: more than any saved time's seconds since 1970


def _saved_epoch() -> ColumnElement[float]:
    return func.extract("epoch", SavedListing.saved_at)


def _sort_key(sort: str, place: tuple[float, float] | None) -> ColumnElement[float]:
    """A saved flat's key in the `sort` (not "saved"), a number, ascending (the flat's id breaks ties)."""
    if sort == "price":
        key = func.coalesce(Listing.price, LAST)
    elif sort == "value":  # a rank is of the market the flat is in: one no longer listed has none
        key = case((Listing.status == "active", VALUE), else_=LAST)
    elif sort == "viewing":  # then the rest, last saved first
        ahead = SavedListing.viewing_at > func.now()
        key = case((ahead, func.extract("epoch", SavedListing.viewing_at)), else_=LAST - _saved_epoch())
    elif sort == "available":  # free soonest first, then those not saying when, then those gone
        key = case((Listing.status != "active", LAST), else_=Listing.move_in)
    elif sort == "rating":  # each rating's (and then those not rated) last saved first
        stars_short = func.coalesce(MAX_RATING - SavedListing.rating, MAX_RATING)
        key = stars_short * RATING_STEP - _saved_epoch()
    else:
        assert place is not None  # distance: the view gave it one
        key = metres_from(*place)
    return cast(key, Float)


def _sorted(
    query: Select, args: dict[str, Any], place: tuple[float, float] | None
) -> tuple[list[Any], str | None]:
    """A page of the saved flats in `args`' sort, after its cursor; and the next page's cursor."""
    key = _sort_key(args["sort"], place)
    spec = SortSpec((key, Listing.id), descending=False, kind="number")
    query = query.add_columns(key.label("sort_key"))
    return keyset_page(get_db(), query, spec, f"saved-{args['sort']}", args, lambda r: (r.sort_key, r.id))


def _saved_flat(user_id: int, flat_id: int) -> Any:
    return get_db().execute(saved_query(user_id).where(Listing.id == flat_id)).first()


@blp.route("/<int:listing_id>", methods=["PUT"])
@auth_required
@blp.doc(security=SECURITY)
@blp.response(201, SavedSchema)
@blp.alt_response(200, schema=SavedSchema, description="It was saved already (unchanged).")
def save(listing_id: int) -> tuple[dict[str, Any], int]:
    """Save a listing (one shown by the listing API; a copy saves the flat it copies) with its price now.
    Saving it again changes nothing; at most 500 are kept."""
    session = get_db()
    user_id = current_user().id
    flat = shown_flat(session, listing_id)
    # one save of the caller at a time: two at once cannot pass the limit together
    session.execute(select(User.id).where(User.id == user_id).with_for_update())
    row = _saved_flat(user_id, flat.id)
    if row is not None:
        return _item(row, _clashes(user_id)), 200
    count = session.scalar(select(func.count()).where(SavedListing.user_id == user_id))
    if count >= saved_model.MAX_SAVED:
        raise ApiError(409, f"You already have {saved_model.MAX_SAVED} saved listings; remove one first.")
    session.execute(
        insert(SavedListing)
        .values(user_id=user_id, listing_id=flat.id, price=flat.price, told_price=flat.price)
        .on_conflict_do_nothing()
    )
    return _item(_saved_flat(user_id, flat.id), _clashes(user_id)), 201


@blp.route("/<int:listing_id>", methods=["PATCH"])
@auth_required
@blp.doc(security=SECURITY)
@blp.arguments(SavedChangeBody, as_kwargs=False)
@blp.response(200, SavedSchema)
def change(body: dict[str, Any], listing_id: int) -> dict[str, Any]:
    """Keep a note with a saved listing (the id it is listed with there), or clear it (null or empty);
    say where you are with it (`stage`: contacted, viewing, viewed, applied, ruled_out; null: just
    saved), dated when it changes. A flat ruled out stays on the list, and nook tells you no news of it
    until you put it back. Book a viewing (`viewing`: when, on your clock) and nook reminds you of it
    while the stage is viewing, as long before it as you chose (`viewing_reminder_minutes` of PATCH
    /v1/me)."""
    user_id = current_user().id
    row = (
        get_db().execute(saved_query(user_id).where(stands_for(SavedListing.listing_id, listing_id))).first()
    )
    if row is None:
        raise ApiError(404, "That listing is not among your saved listings.")
    values: dict[str, Any] = {}
    if "note" in body:
        values["note"] = (body["note"] or "").strip() or None
    if "viewing" in body:
        values.update(_viewing_values(body["viewing"]))
        if body["viewing"] is not None and "stage" not in body:
            body["stage"] = "viewing"
    if "rating" in body:
        values["rating"] = body["rating"]
    if "stage" in body and body["stage"] != row.stage:
        values.update(stage=body["stage"], stage_at=func.now() if body["stage"] else None)
    if values:
        get_db().execute(
            update(SavedListing)
            .where(SavedListing.user_id == user_id, SavedListing.listing_id == row.saved_id)
            .values(values)
        )
    return _item(_saved_flat(user_id, row.id), _clashes(user_id))


def viewings_query(user_id: int) -> Select:
    """The caller's saved listings with what a viewing's calendar event says of the flat."""
    return saved_query(user_id).add_columns(Listing.address)


def viewing_event(row: Any, user_id: int) -> Viewing:
    """A saved flat's viewing (of `viewings_query`) as a calendar event: the same UID wherever and
    whenever it is asked for."""
    words = [f"${row.price:,}" if row.price else None, row.url, f"On nook: {base_url()}/#listing={row.id}"]
    words.append(f"Your note: {row.note}" if row.note else None)
    uid = f"viewing-{user_id}-{row.saved_id}@{urlsplit(base_url()).hostname}"
    return Viewing(uid, row.viewing_at, row.title or "Listing", row.address, [w for w in words if w], row.url)


def calendar_response(calendar: str, filename: str) -> Response:
    return Response(
        calendar,
        mimetype="text/calendar",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


@blp.route("/<int:listing_id>/viewing.ics")
@auth_required
@blp.doc(security=SECURITY)
@blp.response(200, {"type": "string"}, content_type="text/calendar")
def viewing_calendar(listing_id: int) -> Response:
    """The viewing you booked of a saved listing (the id it is listed with there) as an iCalendar file
    for your calendar app: half an hour from its time, at the flat's address, with an alarm an hour
    before; the same event again once moved. 404 if none is booked."""
    user_id = current_user().id
    query = viewings_query(user_id).where(stands_for(SavedListing.listing_id, listing_id))
    row = get_db().execute(query).first()
    if row is None:
        raise ApiError(404, "That listing is not among your saved listings.")
    if row.viewing_at is None:
        raise ApiError(404, "No viewing is booked of that saved listing.")
    return calendar_response(calendar([viewing_event(row, user_id)]), f"viewing-{row.id}.ics")


def _feed() -> dict[str, Any]:
    token = current_user().calendar_token
    return {"url": saved_model.viewings_link(token, base_url()) if token else None}


@blp.route("/calendar")
@auth_required
@blp.doc(security=SECURITY)
@blp.response(200, CalendarFeedSchema)
def calendar_feed() -> dict[str, Any]:
    """Whether your viewings are published as a calendar feed, and its link."""
    return _feed()


@blp.route("/calendar", methods=["PUT"])
@auth_required
@blp.doc(security=SECURITY)
@blp.response(200, CalendarFeedSchema)
def publish_viewings() -> dict[str, Any]:
    """Publish your viewings as a calendar feed: subscribe to its link in your calendar app (it needs no
    key) and every viewing you book shows there, moved or cleared as you change it (the app asks again
    every hour or so). Asking again keeps the link."""
    saved_model.publish_viewings(current_user())
    return _feed()


@blp.route("/calendar", methods=["DELETE"])
@auth_required
@blp.doc(security=SECURITY)
@blp.response(204)
def stop_publishing_viewings() -> Response:
    """Stop the feed: its link stops working (publishing again makes another)."""
    saved_model.stop_publishing_viewings(current_user())
    return Response(status=204)


@blp.route("/<int:listing_id>", methods=["DELETE"])
@auth_required
@blp.doc(security=SECURITY)
@blp.response(204)
def unsave(listing_id: int) -> Response:
    """Remove a listing from your saved listings (the id it is listed with there, or the one you saved)."""
    missing = "That listing is not among your saved listings."
    forget_kept(get_db(), SavedListing, current_user().id, listing_id, missing)
    return Response(status=204)


def _shared() -> dict[str, Any]:
    user = current_user()
    token = user.shortlist_token
    return {
        "url": saved_model.shortlist_link(token, base_url()) if token else None,
        "notes": user.shortlist_notes,
    }


@blp.route("/share")
@auth_required
@blp.doc(security=SECURITY)
@blp.response(200, ShareSchema)
def shared() -> dict[str, Any]:
    """Whether your saved listings are shared, and the link that shows them."""
    return _shared()


@blp.route("/share", methods=["PUT"])
@auth_required
@blp.doc(security=SECURITY)
@blp.arguments(ShareBody, as_kwargs=False)
@blp.response(200, ShareSchema)
def share(body: dict[str, Any]) -> dict[str, Any]:
    """Share your saved listings, read-only, with anyone you give the link to (a partner, a flatmate):
    the page shows each flat as it is now, with your notes if `notes` is true. Asking again keeps the
    link and sets `notes`."""
    saved_model.share(current_user(), body["notes"])
    return _shared()


@blp.route("/share", methods=["DELETE"])
@auth_required
@blp.doc(security=SECURITY)
@blp.response(204)
def stop_sharing() -> Response:
    """Stop sharing: the link stops working (sharing again makes another)."""
    saved_model.stop_sharing(current_user())
    return Response(status=204)
