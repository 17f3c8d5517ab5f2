"""/v1/regions/<id>/market: recent activity and the forecast, read from market_points (lean)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import marshmallow as ma
from sqlalchemy import select, text

from app.api import Blueprint
from app.auth import SECURITY, auth_required
from app.db import get_db
from app.regions import get_owned_region
from app.schemas import StrictSchema
from models.explain import money
from models.market import BED_BUCKETS, MarketPoint, bedroom_bounds, series_key
from models.region import Region

blp = Blueprint("market", __name__, url_prefix="/v1/regions", description="How fast an area moves.")
HISTORY_DAYS = 56


class PointSchema(ma.Schema):
    day = ma.fields.Date(required=True)
    value = ma.fields.Float(allow_none=True, required=True)
    low = ma.fields.Float(allow_none=True)
    high = ma.fields.Float(allow_none=True)


class SeriesSchema(ma.Schema):
    history = ma.fields.List(ma.fields.Nested(PointSchema), required=True)
    forecast = ma.fields.List(ma.fields.Nested(PointSchema), required=True)


class NextWeekSchema(ma.Schema):
    expected = ma.fields.Float(required=True)
    low = ma.fields.Float(required=True)
    high = ma.fields.Float(required=True)


class PriceCutsSchema(ma.Schema):
    days = ma.fields.Integer(required=True, metadata={"description": "the window, up to now"})
    listings = ma.fields.Integer(
        required=True,
        metadata={"description": "listings shown in the region whose price was last cut within it"},
    )
    median_percent = ma.fields.Float(
        allow_none=True,
        required=True,
        metadata={"description": "the median cut, as a share of the price before"},
    )


class MarketSchema(ma.Schema):
    region_id = ma.fields.Integer(required=True)
    bedrooms = ma.fields.String(required=True, metadata={"description": "all, 0, 1, 2, 3 or 4+"})
    new_listings = ma.fields.Nested(SeriesSchema, required=True)
    median_price = ma.fields.Nested(SeriesSchema, required=True)
    next_7_days = ma.fields.Nested(NextWeekSchema, allow_none=True, required=True)
    price_cuts = ma.fields.Nested(PriceCutsSchema, required=True)
    summary = ma.fields.String(required=True)
    model = ma.fields.String(allow_none=True, required=True)
    trained_at = ma.fields.AwareDateTime(allow_none=True, required=True)


class MarketArgs(StrictSchema):
    bedrooms = ma.fields.String(
        validate=ma.validate.OneOf(BED_BUCKETS),
        metadata={"description": "default: the region's minimum bedrooms, else all"},
    )


def _bucket(region: Region, requested: str | None) -> str:
    if requested:
        return requested
    if region.min_bedrooms is None:
        return "all"
    return "4+" if region.min_bedrooms >= 4 else str(region.min_bedrooms)


def _split(rows: list[MarketPoint]) -> dict[str, list[dict[str, Any]]]:
    return {
        "history": [{"day": r.day, "value": r.value} for r in rows if r.kind == "history"],
        "forecast": [
            {"day": r.day, "value": r.value, "low": r.low, "high": r.high}
            for r in rows
            if r.kind == "forecast"
        ],
    }


def _price_words(history: list[dict[str, Any]]) -> str:
    values = [p["value"] for p in history if p["value"] is not None]
    if len(values) < 29:
        return (
            "not enough listings yet to tell the median asking price"
            if not values
            else f"median asking price {money(values[-1])}"
        )
    now, before = values[-1], values[-29]
    change = (now - before) / before
    if abs(change) < 0.03:
        return f"median asking price steady at {money(now)}"
    return f"median asking price {'up' if change > 0 else 'down'} {abs(change):.0%} to {money(now)}"


def _cut_words(cuts: dict[str, Any]) -> str:
    if not cuts["listings"]:
        return f" No listing here has cut its price in the last {cuts['days']} days."
    one = cuts["listings"] == 1
    median = "" if cuts["median_percent"] is None else f", by {round(cuts['median_percent'])}% at the median"
    subject = (
        f"{cuts['listings']} {'listing' if one else 'listings'} here cut {'its' if one else 'their'} price"
    )
    return f" {subject} in the last {cuts['days']} days{median}."


def summary(
    bucket: str,
    week: dict[str, float] | None,
    price_history: list[dict[str, Any]],
    cuts: dict[str, Any] | None = None,
) -> str:
    """One sentence, e.g. 'About 12 new 1-bedroom listings expected in the next 7 days (8-16);
    median asking price steady at $2,150.', and one on price cuts if given."""
    kind = {"all": "", "0": " studio", "4+": " 4+ bedroom"}.get(bucket, f" {bucket}-bedroom")
    cut = _cut_words(cuts) if cuts is not None else ""
    if week is None:
        return "No market figures for this region yet: they are computed once a day." + cut
    expected = round(week["expected"])
    noun = "listing" if expected == 1 else "listings"
    return (
        f"About {expected} new{kind} {noun} expected in the next 7 days ({round(week['low'])}-"
        f"{round(week['high'])}); {_price_words(price_history)}.{cut}"
    )


# The region's shown listings (of a bedroom bucket) whose last change of price was a cut since :since:
# the partial index of migration 0016 finds the few cut lately, each then looked up in the region.
PRICE_CUTS = text("""
SELECT count(*) AS listings,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY (l.previous_price - l.price)::float8 / l.previous_price)
           AS median_share
FROM listings l
JOIN region_listings m ON m.listing_id = l.id AND m.region_id = :region
WHERE l.status = 'active' AND l.previous_price > l.price AND l.price_changed_at >= :since
  AND (:low IS NULL OR l.bedrooms >= :low) AND (:high IS NULL OR l.bedrooms <= :high)
""")
CUT_DAYS = 30


def price_cuts(region_id: int, bucket: str, now: datetime) -> dict[str, Any]:
    """How many of the region's listings (of the bucket) cut their price in the last CUT_DAYS days, and
    the median cut."""
    low, high = bedroom_bounds(bucket)
    row = (
        get_db()
        .execute(
            PRICE_CUTS,
            {"region": region_id, "since": now - timedelta(days=CUT_DAYS), "low": low, "high": high},
        )
        .one()
    )
    median = None if row.median_share is None else round(row.median_share * 100, 1)
    return {"days": CUT_DAYS, "listings": row.listings, "median_percent": median}


@blp.route("/<int:region_id>/market")
@auth_required
@blp.doc(security=SECURITY)
@blp.arguments(MarketArgs, location="query", as_kwargs=False)
@blp.response(200, MarketSchema)
def market(args: dict[str, Any], region_id: int) -> dict[str, Any]:
    """Recent daily new listings and median asking price in the region, and the 14-day forecast."""
    region = get_owned_region(region_id)
    bucket = _bucket(region, args.get("bedrooms"))
    scope = f"region:{region.id}"
    keys = {
        "new": series_key(scope, "new", bucket),
        "price": series_key(scope, "price", bucket),
        "week": series_key(scope, "new", bucket, "next7"),
    }
    rows = (
        get_db()
        .scalars(
            select(MarketPoint)
            .where(MarketPoint.series_key.in_(keys.values()))
            .order_by(MarketPoint.series_key, MarketPoint.day)
        )
        .all()
    )
    by_key: dict[str, list[MarketPoint]] = {key: [] for key in keys.values()}
    for row in rows:
        by_key[row.series_key].append(row)
    week_row = by_key[keys["week"]][-1] if by_key[keys["week"]] else None
    week = {"expected": week_row.value, "low": week_row.low, "high": week_row.high} if week_row else None
    # Figures are as of the last run: show the HISTORY_DAYS before its forecast starts.
    since = (week_row.day if week_row else date.today()) - timedelta(days=HISTORY_DAYS)
    price_rows = by_key[keys["price"]]
    price = _split([r for r in price_rows if r.day >= since])
    cuts = price_cuts(region.id, bucket, datetime.now(UTC))
    return {
        "region_id": region.id,
        "bedrooms": bucket,
        "new_listings": _split([r for r in by_key[keys["new"]] if r.day >= since]),
        "median_price": price,
        "next_7_days": week,
        "price_cuts": cuts,
        "summary": summary(bucket, week, _split(price_rows)["history"], cuts),
        "model": week_row.model if week_row else None,
        "trained_at": week_row.trained_at if week_row else None,
    }
