"""/v1/listings: search, detail (with the explanation), and the price-rank chart."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Response, request, url_for
from sqlalchemy import func, select

from app.api import Blueprint
from app.auth import SECURITY, auth_required, current_user
from app.db import get_db
from app.errors import ApiError
from app.schemas import ListingDetailSchema, ListingPageSchema, ListingSearchArgs, SimilarArgs, SimilarSchema
from app.search import ASKED, ASKED_FLAT, listing_item, search_listings, similar_listings
from models.chart import price_rank_svg
from models.explain import last_change
from models.listing import Listing, ListingPriceChange
from models.price_rank import PriceRank
from models.pricing import REACH_M
from models.ranking import outside_market

blp = Blueprint("listings", __name__, url_prefix="/v1/listings", description="Search listings and read one.")
VISIBLE = ("active", "delisted", "expired")
HISTORY = 100  # changes of price a listing's detail gives (a source that flips its price daily has many)


@blp.route("")
@auth_required
@blp.doc(security=SECURITY)
@blp.arguments(ListingSearchArgs, location="query", as_kwargs=False)
@blp.response(200, ListingPageSchema)
def search(args: dict[str, Any]) -> dict[str, Any]:
    """Search active listings in one area (region_id, bbox or near + radius_m), filtered and sorted."""
    rows, next_cursor = search_listings(get_db(), current_user().id, args)
    return {"items": [listing_item(r) for r in rows], "next_cursor": next_cursor}


def _load(listing_id: int) -> tuple[Listing, PriceRank | None, float, float]:
    """The listing shown for `listing_id`: itself, or the one it was found to copy (a link to a listing
    that went and passed to a copy from another source opens the flat there); a 404 if none is shown."""
    row = (
        get_db()
        .execute(
            select(Listing, PriceRank, func.ST_Y(Listing.geom), func.ST_X(Listing.geom))
            .select_from(ASKED)
            .join(Listing, Listing.id == ASKED_FLAT)
            .outerjoin(PriceRank, PriceRank.listing_id == Listing.id)
            .where(ASKED.id == listing_id, Listing.status.in_(VISIBLE), Listing.canonical_id.is_(None))
        )
        .first()
    )
    if row is None:
        raise ApiError(404, "No such listing.")
    return row[0], row[1], row[2], row[3]


def _explain(listing: Listing, rank: PriceRank | None, lat: float | None, lon: float | None) -> str | None:
    if listing.status != "active":
        return None
    if rank is None:
        return _unranked(listing, lat, lon)
    return rank.explain(listing)


def _unranked(listing: Listing, lat: float | None, lon: float | None) -> str | None:
    """Why an active listing has no rank when the reason is its place (outside the current model's
    market); None when it is simply not ranked yet."""
    if lat is None or lon is None or not outside_market(get_db(), listing, lat, lon):
        return None
    return (
        f"nook knows no other listing within {REACH_M // 1000} km of this one, "
        "so it does not judge its price."
    )


def price_history(listing: Listing) -> list[dict[str, Any]]:
    """Each asking price nook saw, oldest first, with when it first saw it; the last HISTORY changes."""
    changes = (
        get_db()
        .execute(
            select(ListingPriceChange.changed_at, ListingPriceChange.old_price, ListingPriceChange.new_price)
            .where(ListingPriceChange.listing_id == listing.id)
            .order_by(ListingPriceChange.changed_at.desc())
            .limit(HISTORY + 1)
        )
        .all()[::-1]
    )
    if not changes:
        return [] if listing.price is None else [{"price": listing.price, "since": listing.first_seen_at}]
    whole = len(changes) <= HISTORY
    changes = changes[-HISTORY:]
    first = {"price": changes[0].old_price, "since": listing.first_seen_at if whole else None}
    return [first] + [{"price": c.new_price, "since": c.changed_at} for c in changes]


def _cacheable(body: bytes, mimetype: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.set_etag(hashlib.sha256(body).hexdigest()[:32])
    response.cache_control.public, response.cache_control.max_age = True, 60
    return response.make_conditional(request)


@blp.route("/<int:listing_id>")
@blp.response(200, ListingDetailSchema)
def detail(listing_id: int) -> Response:
    """One listing with its price rank explained in plain words (public, cacheable, ETag); a listing
    found to copy another gives that one (as does one that went and passed its flat to a copy)."""
    listing, rank, lat, lon = _load(listing_id)
    active_rank = rank if listing.status == "active" else None
    item = {
        "id": listing.id,
        "title": listing.title,
        "price": listing.price,
        "bedrooms": listing.bedrooms,
        "bathrooms": listing.bathrooms,
        "sqft": listing.sqft,
        "unit_type": listing.unit_type,
        "furnished": listing.furnished,
        "location": {"latitude": lat, "longitude": lon},
        "url": listing.url,
        "posted_at": listing.posted_at,
        "available_from": listing.available_from,
        "status": listing.status,
        "address": listing.address,
        "first_seen_at": listing.first_seen_at,
        "last_seen_at": listing.last_seen_at,
        "price_rank": None
        if active_rank is None
        else {
            "label": active_rank.label,
            "p25": round(active_rank.p25),
            "p50": round(active_rank.p50),
            "p75": round(active_rank.p75),
            "model_version": active_rank.model_version,
        },
        "explanation": _explain(listing, active_rank, lat, lon),
        "chart_url": url_for("listings.chart", listing_id=listing.id) if active_rank else None,
        "price_change": last_change(listing),
        "price_history": price_history(listing),
    }
    body = json.dumps(ListingDetailSchema().dump(item), separators=(",", ":")).encode()
    return _cacheable(body, "application/json")


@blp.route("/<int:listing_id>/similar")
@auth_required
@blp.doc(security=SECURITY)
@blp.arguments(SimilarArgs, location="query", as_kwargs=False)
@blp.response(200, SimilarSchema)
def similar(args: dict[str, Any], listing_id: int) -> dict[str, Any]:
    """The shown listings most like this one nearby, to compare it with: as many bedrooms (4 or more
    together), within 5 km, nearest first, each with its distance and price rank."""
    listing, _, lat, lon = _load(listing_id)
    rows = similar_listings(get_db(), current_user().id, listing, lat, lon, args["limit"])
    return {"items": [listing_item(row) for row in rows]}


@blp.route("/<int:listing_id>/price-rank.svg")
@blp.response(200, {"type": "string"}, content_type="image/svg+xml")
def chart(listing_id: int) -> Response:
    """Where the listing's price falls in its expected range, as SVG (public, cacheable)."""
    listing, rank, _, _ = _load(listing_id)
    if rank is None or listing.status != "active":
        raise ApiError(404, "This listing has no price rank yet.")
    svg = price_rank_svg(rank.p25, rank.p75, listing.price, rank.label, title=rank.explain(listing))
    return _cacheable(svg.encode(), "image/svg+xml")
