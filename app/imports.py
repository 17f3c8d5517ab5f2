"""/v1/me/import: bring an export (`nook-export/1`) into the caller's account, from this nook or another.

An import adds; it never changes or removes what the account has. Each region is drawn again as POST
/v1/regions would draw it (one with the same name and shape is already here); each saved or hidden
listing is found by its source and reference, and kept as the flat it stands for here, with the note and
the time it was saved or hidden; the account's place is taken if it has none. The alerts (what a nook
sent), how alerts reach the user (a webhook is checked when set, email goes to the account's address)
and a shared shortlist's link stay behind. Importing the same document again adds nothing.

Whatever is not imported is said, item by item: a region this nook would not draw (and why), a listing
this nook does not have, one past the most an account keeps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import wraps
from typing import Any

import marshmallow as ma
from flask import request
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.alerts import check_hold, set_quiet_hours
from app.api import Blueprint
from app.auth import SECURITY, auth_required, current_user
from app.db import get_db
from app.errors import ApiError, flatten_messages
from app.geometry import validated_geojson
from app.regions import MAX_REGIONS, add_region, stored_geometry
from app.schemas import ImportDocument, ImportReportSchema, PlaceSchema, QuietHoursSchema, RegionCreate
from models.explain import GONE
from models.hidden import MAX_HIDDEN
from models.listing import Listing, kept_flats
from models.normalize import text_fault
from models.region import Region
from models.saved import MAX_NOTE, MAX_SAVED
from models.user import (
    MAX_RATING,
    MAX_REMINDER_MINUTES,
    SAVED_STAGES,
    HiddenListing,
    SavedListing,
    User,
    known_time_zones,
)

blp = Blueprint("imports", __name__, url_prefix="/v1", description="Your data, brought back.")

# A document is read whole: at most what Lambda takes in a request. An export's alerts are most of a big
# one and are never imported: leave them out (the map page does).
MAX_DOCUMENT = 6 * 1024 * 1024
PROBLEMS_LISTED = 100  # items not imported named in the answer, per part (all are counted)
# An import answers through API Gateway, which waits 29 s: the regions are drawn for so long at most (the
# saved and hidden listings, bulk statements, go first), and the rest are left for the next import of the
# same document, which passes over those drawn already. The map page sends it again until all are in.
REGION_SECONDS = 15.0
ALREADY_HERE = "already here"
TIME_RAN_OUT = "not imported yet: time ran out; import the file again for the rest"
REGION_KEYS = ("name", "geometry", "criteria", "alerts")  # what POST /v1/regions takes of an export's region
MAX_REF = 500  # characters of a source or reference: longer names no listing

# The flat each (source name, reference) stands for here, if nook lists or listed it: the listing, or
# the one it was found to copy. Pending and refused listings are no flat anybody was shown (nor one
# without a price: a saved listing keeps the price it had).
FLATS = text("""
SELECT k.n, f.id, f.price, f.status
FROM unnest(CAST(:sources AS text[]), CAST(:refs AS text[])) WITH ORDINALITY AS k(source, ref, n)
JOIN sources s ON s.name = k.source
JOIN listings l ON l.source_id = s.id AND l.source_ref = k.ref
JOIN listings f ON f.id = coalesce(l.canonical_id, l.id)
WHERE f.status IN ('active', 'delisted', 'expired') AND f.price IS NOT NULL
""")


@dataclass
class Part:
    """What became of one part of the document (regions, saved, hidden)."""

    added: int = 0
    already_here: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)  # every item not imported, and why
    complete: bool = True  # False: time ran out before every item was tried

    def refuse(self, item: int, reason: str) -> None:
        self.problems.append({"item": item, "reason": reason})

    def as_dict(self) -> dict[str, Any]:
        """The counts, and the first PROBLEMS_LISTED problems in the document's order."""
        return {
            "added": self.added,
            "already_here": self.already_here,
            "not_imported": len(self.problems),
            "problems": sorted(self.problems, key=lambda p: p["item"])[:PROBLEMS_LISTED],
        }


def _same_region(session: Session, user_id: int, name: str, geojson: str) -> bool:
    return (
        session.scalar(
            select(func.count())
            .select_from(Region)
            .where(
                Region.user_id == user_id,
                Region.name == name,
                func.ST_Equals(Region.geom, stored_geometry(geojson)),
            )
        )
        > 0
    )


def _region(session: Session, user_id: int, item: Any, have: int) -> str | None:
    """Draw one of the document's regions again (in a savepoint: one refused leaves the others); None if
    drawn, ALREADY_HERE, or why it is not."""
    if not isinstance(item, dict):
        return "a region is an object (name, geometry, criteria, alerts)"
    try:
        body = RegionCreate().load({key: item[key] for key in REGION_KEYS if key in item})
        geojson = validated_geojson(session, body["geometry"])
        if _same_region(session, user_id, body["name"].strip() or "Region", geojson):
            return ALREADY_HERE
        if have >= MAX_REGIONS:
            return f"you have {MAX_REGIONS} regions, the most an account keeps"
        with session.begin_nested():
            add_region(session, user_id, body, geojson)
    except ma.ValidationError as exc:
        first = flatten_messages(exc.messages)[0]  # the first field at fault, and what is wrong with it
        return f"{first['field']}: {first['message']}"
    except ApiError as exc:
        return exc.detail
    return None


def import_regions(session: Session, user_id: int, items: list[Any], seconds: float | None) -> Part:
    """Draw the document's regions again, for up to `seconds` (None: all): each is placed among the
    listings it holds as it is drawn, which takes long for a large one in a large market; the regions
    not reached are said to be left for the next import of the document (`Part.complete` is False)."""
    part = Part()
    have = session.scalar(select(func.count()).select_from(Region).where(Region.user_id == user_id)) or 0
    until = None if seconds is None else time.monotonic() + seconds
    for n, item in enumerate(items):
        if until is not None and time.monotonic() > until and (part.added or part.problems):
            part.complete = False
            for left in range(n, len(items)):
                part.refuse(left, TIME_RAN_OUT)
            break
        outcome = _region(session, user_id, item, have)
        if outcome is None:
            have += 1
            part.added += 1
        elif outcome == ALREADY_HERE:
            part.already_here += 1
        else:
            part.refuse(n, outcome)
    return part


@dataclass(frozen=True)
class Kept:
    """A saved or hidden listing of the document, read: its place there, the listing it names, when it
    was kept, and (saved) the price then, the note and where the saver is with it since when."""

    item: int
    source: str
    ref: str
    at: datetime | None
    price: int | None = None
    note: str | None = None
    stage: str | None = None
    stage_at: datetime | None = None
    viewing_at: datetime | None = None
    viewing_time_zone: str | None = None
    rating: int | None = None


def _instant(value: Any) -> datetime | None:
    """An export's time (ISO 8601 with its offset); None if it is not one."""
    try:
        at = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return None if at is None or at.tzinfo is None else at


def _when(value: Any) -> datetime | None:
    """An export's time of something done (ISO 8601 with its offset); None if it is not one, or one
    still to come."""
    at = _instant(value)
    return None if at is None or at > datetime.now(UTC) else at


def _viewing(value: Any) -> tuple[datetime | None, str | None] | str:
    """A saved item's viewing (its time and the time zone it was booked on; None, None: none), or the
    reason nook keeps none (whether nook knows the time zone is asked later, of them all at once)."""
    if value is None:
        return None, None
    zone = value.get("time_zone") if isinstance(value, dict) else None
    at = _instant(value.get("at")) if isinstance(value, dict) else None
    if at is None:
        return "viewing.at: not a time with its offset (ISO 8601)"
    if not isinstance(zone, str) or not 0 < len(zone) <= 64 or text_fault(zone):
        return "viewing.time_zone: not the name of a time zone"
    return at, zone


def _named(item: Any) -> tuple[str, str] | str:
    """The (source, reference) a saved or hidden item names, or the reason it names none."""
    listing = item.get("listing") if isinstance(item, dict) else None
    if not isinstance(listing, dict):
        return "names no listing (listing: {source, source_ref})"
    source, ref = listing.get("source"), listing.get("source_ref")
    for name, value in (("source", source), ("source_ref", ref)):
        if not isinstance(value, str) or not value or len(value) > MAX_REF or text_fault(value):
            return f"listing.{name}: not the name of a listing's {name.replace('_', ' ')}"
    return source, ref  # type: ignore[return-value]


def read_kept(items: list[Any], part: Part, saved: bool) -> list[Kept]:
    """The items that name a listing (and, saved, carry a note and a stage nook keeps); the others
    refused."""
    kept = []
    for n, item in enumerate(items):
        named = _named(item)
        if isinstance(named, str):
            part.refuse(n, named)
            continue
        at = _when(item.get("saved_at" if saved else "hidden_at"))
        extras = _saved_extras(item) if saved else ()
        if isinstance(extras, str):
            part.refuse(n, extras)
            continue
        kept.append(Kept(n, *named, at, *extras))
    return kept


def _saved_extras(item: dict[str, Any]) -> tuple[Any, ...] | str:
    """A saved item's price when saved (None if it gives none nook takes), note, stage and when it was
    set, its viewing's time and time zone, and its rating; or the reason nook keeps none of it."""
    note = item.get("note")
    if note is not None and (not isinstance(note, str) or text_fault(note)):
        return "note: not text nook keeps"
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE:
        return f"note: longer than {MAX_NOTE:,} characters"
    stage = item.get("stage")
    if stage is not None and (not isinstance(stage, str) or stage not in SAVED_STAGES):
        return "stage: not one of " + ", ".join(SAVED_STAGES) + " (or null)"
    price = item.get("price_when_saved")
    price = price if isinstance(price, int) and not isinstance(price, bool) and 0 < price < 2**31 else None
    stage_at = (_when(item.get("stage_at")) or datetime.now(UTC)) if stage else None
    viewing = _viewing(item.get("viewing"))
    if isinstance(viewing, str):
        return viewing
    rating = item.get("rating")
    if rating is not None and (type(rating) is not int or not 1 <= rating <= MAX_RATING):
        return f"rating: not 1 to {MAX_RATING} stars (or null)"
    return price, note, stage, stage_at, *viewing, rating


def _flats(session: Session, kept: list[Kept]) -> dict[int, Any]:
    """The flat (id, price, status) each item names here, by its place in `kept`."""
    if not kept:
        return {}
    rows = session.execute(FLATS, {"sources": [k.source for k in kept], "refs": [k.ref for k in kept]})
    return {row.n - 1: row for row in rows}


def import_kept(
    session: Session,
    user_id: int,
    items: list[Any],
    table: Any,
    most: int,
    row: Callable[[Kept, Any], dict[str, Any]],
) -> Part:
    """Keep the flats the items name (saved or hidden, `table`) that the user does not keep yet, up to
    `most`; `row` gives a new row's values from an item and its flat here."""
    part = Part()
    kept = read_kept(items, part, saved=table is SavedListing)
    flats = _flats(session, kept)
    kept_at = "saved_at" if table is SavedListing else "hidden_at"
    have = set(session.scalars(kept_flats(table, kept_at, user_id, Listing.id)))
    zones = known_time_zones(session, {k.viewing_time_zone for k in kept if k.viewing_time_zone})
    room = most - session.scalar(select(func.count()).where(table.user_id == user_id))
    rows = []
    for n, item in enumerate(kept):
        flat = flats.get(n)
        if flat is None:
            part.refuse(item.item, f"no listing {item.ref!r} of {item.source!r} on this nook")
        elif flat.id in have:
            part.already_here += 1
        elif item.viewing_time_zone is not None and item.viewing_time_zone not in zones:
            part.refuse(item.item, "viewing.time_zone: not a time zone nook knows")
        elif len(rows) >= room:
            part.refuse(item.item, f"you keep {most:,} of them, the most an account keeps")
        else:
            have.add(flat.id)
            rows.append({"user_id": user_id, "listing_id": flat.id, **row(item, flat)})
    if rows:
        session.execute(insert(table).values(rows).on_conflict_do_nothing())
    part.added = len(rows)
    return part


def _saved_row(item: Kept, flat: Any) -> dict[str, Any]:
    # the user hears of the flat from here on: of a cut below its price now, or that it went, not before
    return {
        "price": item.price or flat.price,
        "told_price": flat.price,
        "told_gone": flat.status in GONE,
        "saved_at": item.at or datetime.now(UTC),
        "note": item.note,
        "stage": item.stage,
        "stage_at": item.stage_at,
        "viewing_at": item.viewing_at,
        "viewing_time_zone": item.viewing_time_zone,
        "rating": item.rating,
    }


def _hidden_row(item: Kept, flat: Any) -> dict[str, Any]:
    return {"hidden_at": item.at or datetime.now(UTC)}


def import_quiet_hours(user: User, account: dict[str, Any]) -> str:
    """The document's quiet hours, if the account has none: "added", "kept" (the account's) or "absent"
    (none PATCH /v1/me would take, with the account's pace)."""
    try:
        quiet = QuietHoursSchema().load(account.get("quiet_hours"))
    except ma.ValidationError:
        return "absent"
    if user.quiet_from is not None:
        return "kept"
    try:
        check_hold(user, {"quiet_hours": quiet})
        set_quiet_hours(user, quiet)
    except ApiError:
        return "absent"
    return "added"


def import_viewing_reminder(user: User, account: dict[str, Any]) -> str:
    """The document's lead of viewing reminders, if the account chose none: "added", "kept" (the
    account's) or "absent" (the document chose none PATCH /v1/me would take)."""
    minutes = account.get("viewing_reminder_minutes")
    if type(minutes) is not int or not 0 <= minutes <= MAX_REMINDER_MINUTES:
        return "absent"
    if user.viewing_reminder_minutes is not None:
        return "kept"
    user.viewing_reminder_minutes = minutes
    return "added"


def import_place(user: User, account: dict[str, Any]) -> str:
    """The document's place, if the account has none: "added", "kept" (the account's) or "absent" (none
    PATCH /v1/me would take)."""
    try:
        place = PlaceSchema().load(account.get("place"))
    except ma.ValidationError:
        return "absent"
    if user.place_lat is not None:
        return "kept"
    user.place_lat, user.place_lon = place["latitude"], place["longitude"]
    return "added"


def import_document(
    session: Session, user: User, document: dict[str, Any], region_seconds: float | None = None
) -> dict[str, Any]:
    """Bring a checked document (ImportDocument) into the user's account, drawing regions for up to
    `region_seconds` (None: all); what became of each part, and whether all was tried (`complete`)."""
    # one import or save of the user's at a time: two at once cannot pass the limits together
    session.execute(select(User.id).where(User.id == user.id).with_for_update())
    saved = import_kept(session, user.id, document["saved"], SavedListing, MAX_SAVED, _saved_row)
    hidden = import_kept(session, user.id, document["hidden"], HiddenListing, MAX_HIDDEN, _hidden_row)
    place = import_place(user, document["account"])
    quiet_hours = import_quiet_hours(user, document["account"])
    viewing_reminder = import_viewing_reminder(user, document["account"])
    regions = import_regions(session, user.id, document["regions"], region_seconds)
    return {
        "regions": regions.as_dict(),
        "saved": saved.as_dict(),
        "hidden": hidden.as_dict(),
        "place": place,
        "quiet_hours": quiet_hours,
        "viewing_reminder": viewing_reminder,
        "complete": regions.complete,
    }


def summary(report: dict[str, Any]) -> Iterator[str]:
    """The report as lines a person reads (the CLI's)."""
    for name in ("regions", "saved", "hidden"):
        part = report[name]
        yield (
            f"{name}: {part['added']} added, {part['already_here']} already here, "
            f"{part['not_imported']} not imported"
        )
        for problem in part["problems"]:
            yield f"  {name}[{problem['item']}]: {problem['reason']}"
    yield f"place: {report['place']}"
    yield f"quiet hours: {report['quiet_hours']}"
    yield f"viewing reminder: {report['viewing_reminder']}"


def document_sized(view: Callable[..., Any]) -> Callable[..., Any]:
    """Let the view read a document of up to MAX_DOCUMENT (other requests take 256 KB), saying what to
    leave out of a larger one."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if (request.content_length or 0) > MAX_DOCUMENT:
            raise ApiError(
                413,
                f"An import reads {MAX_DOCUMENT // 2**20} MB at most: leave out the export's alerts, which "
                "are never imported (the map page does).",
            )
        request.max_content_length = MAX_DOCUMENT
        return view(*args, **kwargs)

    return wrapper


@blp.route("/me/import", methods=["POST"])
@auth_required
@document_sized
@blp.doc(security=SECURITY)
@blp.arguments(ImportDocument, as_kwargs=False)
@blp.response(200, ImportReportSchema)
def import_export(document: dict[str, Any]) -> dict[str, Any]:
    """Bring an export (`POST /v1/me/export`'s document, from this nook or another) into your account:
    its regions, saved listings (with your notes and stages) and hidden listings, and your place if you
    have none here. It adds, never changes or removes: a region with the same name and shape, or a
    listing you keep already, is left as it is, so importing twice adds nothing. Listings are found by
    their source and reference; the answer counts what was added, what was already here and what was not
    imported, and says why of each (up to 100 a part). The alerts, how they reach you and a shared link
    stay behind. The document's `alerts` may be left out (a big export's are most of it). Regions are
    drawn for 15 s at most (each is placed among the listings it holds, as when drawn): `complete` false
    says some were left for lack of time; send the document again for the rest."""
    return import_document(get_db(), current_user(), document, REGION_SECONDS)
