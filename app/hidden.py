"""/v1/me/hidden: the flats the caller is not interested in, left out of their searches, similar
listings, alert list and alerts (models.hidden)."""

from __future__ import annotations

from typing import Any

from flask import Response
from sqlalchemy import Select, func, select
from sqlalchemy.dialects.postgresql import insert

from app.api import Blueprint
from app.auth import SECURITY, auth_required, current_user
from app.db import get_db
from app.errors import ApiError
from app.pagination import newest_first
from app.schemas import HiddenPageSchema, HiddenSchema, PageArgs
from app.search import base_query, forget_kept, kept_item, shown_flat
from models.hidden import MAX_HIDDEN
from models.listing import Listing, kept_flats
from models.user import HiddenListing, User

blp = Blueprint(
    "hidden",
    __name__,
    url_prefix="/v1/me/hidden",
    description="The listings you are not interested in: left out of what nook shows and sends you.",
)


def _hidden_query(user_id: int) -> Select:
    """The caller's hidden listings as the flats they stand for, with what the listing API shows of each
    (whatever became of them); a flat hidden twice, through copies, once: as first hidden."""
    return kept_flats(
        HiddenListing,
        "hidden_at",
        user_id,
        *base_query().selected_columns,
        Listing.status,
        HiddenListing.listing_id.label("hidden_id"),
        HiddenListing.hidden_at,
    )


def _item(row: Any) -> dict[str, Any]:
    return {"listing": kept_item(row), "hidden_at": row.hidden_at}


@blp.route("")
@auth_required
@blp.doc(security=SECURITY)
@blp.arguments(PageArgs, location="query", as_kwargs=False)
@blp.response(200, HiddenPageSchema)
def hidden(args: dict[str, Any]) -> dict[str, Any]:
    """Your hidden listings, last hidden first, each as the flat is now."""
    keys = (HiddenListing.hidden_at, HiddenListing.listing_id)
    query = _hidden_query(current_user().id)
    rows, cursor = newest_first(get_db(), query, keys, "hidden", args, lambda r: (r.hidden_at, r.hidden_id))
    return {"items": [_item(r) for r in rows], "next_cursor": cursor}


@blp.route("/<int:listing_id>", methods=["PUT"])
@auth_required
@blp.doc(security=SECURITY)
@blp.response(201, HiddenSchema)
@blp.alt_response(200, schema=HiddenSchema, description="It was hidden already (unchanged).")
def hide(listing_id: int) -> tuple[dict[str, Any], int]:
    """Hide a listing (one the listing API shows; a copy hides the flat it copies): it is left out of
    your searches, similar listings and alert list, and no alert of it is sent to you (one queued is
    withdrawn). Hiding it again changes nothing; at most 5,000 are kept."""
    session = get_db()
    user_id = current_user().id
    flat = shown_flat(session, listing_id).id
    # one hide of the caller at a time: two at once cannot pass the limit together
    session.execute(select(User.id).where(User.id == user_id).with_for_update())
    already = session.execute(_hidden_query(user_id).where(Listing.id == flat)).first()
    if already is not None:
        return _item(already), 200
    count = session.scalar(select(func.count()).where(HiddenListing.user_id == user_id))
    if count >= MAX_HIDDEN:
        raise ApiError(409, f"You already have {MAX_HIDDEN:,} hidden listings; show one again first.")
    session.execute(insert(HiddenListing).values(user_id=user_id, listing_id=flat).on_conflict_do_nothing())
    return _item(session.execute(_hidden_query(user_id).where(HiddenListing.listing_id == flat)).one()), 201


@blp.route("/<int:listing_id>", methods=["DELETE"])
@auth_required
@blp.doc(security=SECURITY)
@blp.response(204)
def show_again(listing_id: int) -> Response:
    """Show a hidden listing again (the id it is listed with there, or the one you hid)."""
    missing = "That listing is not among your hidden listings."
    forget_kept(get_db(), HiddenListing, current_user().id, listing_id, missing)
    return Response(status=204)
