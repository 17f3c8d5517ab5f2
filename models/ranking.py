"""Rank listings with the current model as they arrive (batch process job and stream stage).

The price_rank pipeline re-ranks every active listing on its schedule; this
ranks new ones right away so alerts and the API can explain their price.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from models.documents import compact
from models.pricing import Estimate, ListingFeatures, ModelUnavailable, PriceModel, current_model

if TYPE_CHECKING:  # the stream stage stores ranks without loading the tables (models/__init__.py)
    from models.listing import Listing

log = logging.getLogger("nook.ranking")

UPSERT_RANKS = text("""
INSERT INTO price_ranks (listing_id, model_version, p25, p50, p75, label, scored_at)
SELECT r.id, r.version, r.p25, r.p50, r.p75, r.label, :now
FROM json_to_recordset(CAST(:rows AS json))
     AS r(id bigint, version text, p25 float8, p50 float8, p75 float8, label text)
ON CONFLICT (listing_id) DO UPDATE SET
    model_version = EXCLUDED.model_version, p25 = EXCLUDED.p25, p50 = EXCLUDED.p50, p75 = EXCLUDED.p75,
    label = EXCLUDED.label, scored_at = EXCLUDED.scored_at
""")


def features_of(
    listing: Listing | object, latitude: float | None = None, longitude: float | None = None
) -> ListingFeatures:
    """The model's view of a listing row or a validated record (the stream's CleanListing): its
    latitude/longitude attributes, or the position given."""
    return ListingFeatures(
        bedrooms=int(listing.bedrooms),
        bathrooms=listing.bathrooms,
        sqft=listing.sqft,  # type: ignore[attr-defined]
        furnished=listing.furnished,
        unit_type=listing.unit_type,  # type: ignore[attr-defined]
        latitude=float(listing.latitude if latitude is None else latitude),  # type: ignore[attr-defined]
        longitude=float(listing.longitude if longitude is None else longitude),  # type: ignore[attr-defined]
    )


def outside_market(session: Session, listing: Listing, latitude: float, longitude: float) -> bool:
    """Whether the current model would leave this listing unranked for its place: no listing it learned
    from but this one within REACH_M (False when there is no model to ask)."""
    try:
        model = current_model(session)
    except ModelUnavailable:
        return False
    if model is None or listing.bedrooms is None:
        return False
    return not model.neighbourhood(features_of(listing, latitude, longitude), listing.id).within_reach


def rank_listings(
    session: Session, listing_ids: Sequence[int], now: datetime, model: PriceModel | None = None
) -> dict[int, Estimate]:
    """Score active canonical listings and store their ranks (none for those outside the model's market);
    {} before the first model exists."""
    if not listing_ids:
        return {}
    if model is None:
        try:
            model = current_model(session)
        except ModelUnavailable:
            log.exception("price model unavailable; listings stay unranked until it loads")
            return {}
    if model is None:
        return {}
    from models.listing import Listing  # the batch stages' tables

    rows = session.execute(
        select(
            Listing.id,
            Listing.price,
            Listing.bedrooms,
            Listing.bathrooms,
            Listing.sqft,
            Listing.furnished,
            Listing.unit_type,
            func.ST_Y(Listing.geom).label("latitude"),
            func.ST_X(Listing.geom).label("longitude"),
        ).where(
            Listing.id.in_(list(listing_ids)),
            Listing.status == "active",
            Listing.canonical_id.is_(None),
            Listing.geom.is_not(None),
        )
    ).all()
    estimates = {row.id: model.estimate(features_of(row), price=row.price, exclude_id=row.id) for row in rows}
    store_ranks(session, estimates, now)
    return estimates


UNRANK = text("DELETE FROM price_ranks WHERE listing_id = ANY(:ids)").bindparams(
    bindparam("ids", type_=ARRAY(BigInteger))
)


def store_ranks(session: Session, estimates: dict[int, Estimate], now: datetime) -> None:
    """Upsert price ranks (the estimates must carry a label); a listing outside the model's market
    (`Estimate.within_reach`) gets none, and loses the one it had (say, before it moved there)."""
    outside = [i for i, e in estimates.items() if not e.within_reach]
    if outside:
        session.execute(UNRANK, {"ids": outside})
        estimates = {i: e for i, e in estimates.items() if e.within_reach}
    if not estimates:
        return
    # one statement over one JSON document: a round trip and a plan per batch, not per row (as six
    # arrays, psycopg2 adapted each element holding the GIL: 1.9 ms of CPU for 100 ranks, now 1.3)
    rows = [
        {"id": i, "version": e.model_version, "p25": e.p25, "p50": e.p50, "p75": e.p75, "label": e.label}
        for i, e in estimates.items()
    ]
    session.execute(UPSERT_RANKS, {"rows": compact(rows), "now": now})
