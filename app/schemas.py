"""Request and response schemas: validation, serialisation and OpenAPI from one source."""

from __future__ import annotations

from datetime import UTC, datetime

import marshmallow as ma
from marshmallow import validate

from models.export import FORMAT as EXPORT_FORMAT
from models.listing import UNIT_TYPES
from models.normalize import MAX_SQFT, text_fault
from models.price_rank import PRICE_LABELS
from models.region import ALERT_CHANNELS, ALERT_REASONS, NOTIFICATION_STATUSES
from models.saved import MAX_NOTE
from models.user import (
    MAX_ALERT_EVERY_MINUTES,
    MAX_RATING,
    MAX_REMINDER_MINUTES,
    SAVED_STAGES,
    checked_email,
)

MAX_SIMILAR = 20  # similar listings /v1/listings/{id}/similar gives at most

MAX_PAGE = 100
MAX_WORDS = 200  # characters of a search's words (`q`) or a region's
SORTS = ("newest", "price", "price_desc", "value", "price_cut", "distance", "available")


class StrictSchema(ma.Schema):
    """Unknown fields are an error."""

    class Meta:
        unknown = ma.RAISE


class Text(ma.fields.String):
    """A string nook keeps: PostgreSQL stores no NUL character (\\u0000) and no lone surrogate (\\ud800,
    which JSON may escape), so either is refused here (normalize.text_fault)."""

    def _deserialize(self, value: object, attr: str | None, data: object, **kwargs: object) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if fault := text_fault(text):
            raise ma.ValidationError(fault)
        return text


class EmailAddress(Text):
    """An email address, as nook stores it (models.user.checked_email)."""

    def _deserialize(self, value: object, attr: str | None, data: object, **kwargs: object) -> str:
        try:
            return checked_email(super()._deserialize(value, attr, data, **kwargs))
        except ValueError as exc:
            raise ma.ValidationError(str(exc)) from None


class UtcDateTime(ma.fields.AwareDateTime):
    """An aware date and time, handed on in UTC: Python takes offsets up to 23:59, PostgreSQL only up to
    15:59 (a query with -23:00 was a 500), and a time that UTC puts outside the years 1-9999 is refused."""

    def _deserialize(self, value: object, attr: str | None, data: object, **kwargs: object) -> datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise ma.ValidationError(
                "Not a date and time nook can compare (outside the years 1-9999 in UTC)."
            ) from None


def _pair(value: str, name: str, count: int) -> list[float]:
    parts = value.split(",")
    if len(parts) != count:
        raise ma.ValidationError(f"{name} needs {count} comma-separated numbers")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise ma.ValidationError(f"{name} needs {count} comma-separated numbers") from None
    if any(n != n or n in (float("inf"), float("-inf")) for n in numbers):
        raise ma.ValidationError(f"{name} needs finite numbers")
    return numbers


class BBox(ma.fields.String):
    """minLon,minLat,maxLon,maxLat in degrees (WGS 84)."""

    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        west, south, east, north = _pair(super()._deserialize(value, attr, data, **kwargs), "bbox", 4)
        if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
            raise ma.ValidationError(
                "bbox must be minLon,minLat,maxLon,maxLat with min < max, "
                "longitudes in -180..180 and latitudes in -90..90"
            )
        return (west, south, east, north)


class LatLon(ma.fields.String):
    """lat,lon in degrees (WGS 84)."""

    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        name = self.data_key or self.name
        lat, lon = _pair(super()._deserialize(value, attr, data, **kwargs), name, 2)
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ma.ValidationError(
                f"{name} must be lat,lon with latitude in -90..90 and longitude in -180..180"
            )
        return (lat, lon)


class ListingFilters(StrictSchema):
    """Filters, sort and page of a listing search."""

    bedrooms_min = ma.fields.Integer(validate=validate.Range(0, 20))
    bedrooms_max = ma.fields.Integer(validate=validate.Range(0, 20))
    bathrooms_min = ma.fields.Float(validate=validate.Range(0, 20))
    bathrooms_max = ma.fields.Float(validate=validate.Range(0, 20))
    price_min = ma.fields.Integer(validate=validate.Range(0, 100_000))
    price_max = ma.fields.Integer(validate=validate.Range(0, 100_000))
    unit_type = ma.fields.List(
        ma.fields.String(validate=validate.OneOf(UNIT_TYPES)),
        metadata={"description": "Repeat to allow several types."},
    )
    sqft_min = ma.fields.Integer(
        validate=validate.Range(0, MAX_SQFT),
        metadata={"description": "At least this floor area (sq ft); listings that give none are left out."},
    )
    sqft_max = ma.fields.Integer(validate=validate.Range(0, MAX_SQFT))
    furnished = ma.fields.Boolean()
    label = ma.fields.List(
        ma.fields.String(validate=validate.OneOf(PRICE_LABELS)),
        metadata={"description": "Price rank label; repeat for several."},
    )
    posted_since = UtcDateTime(default_timezone=None)
    available_by = ma.fields.Date(
        metadata={
            "description": "Only flats one may move into on or before this day (YYYY-MM-DD): available "
            "from it or earlier, or not saying from when (their available_from is null).",
            "example": "2027-04-01",
        }
    )
    price_cut = ma.fields.Boolean(
        metadata={
            "description": "true: only listings whose last change of price was a cut; false: only the others"
        }
    )
    price_cut_since = UtcDateTime(
        default_timezone=None,
        metadata={"description": "only listings whose price was cut at or after this time"},
    )
    q = ma.fields.List(
        Text(validate=validate.Length(1, MAX_WORDS)),
        validate=validate.Length(max=5),
        metadata={
            "description": 'Words of the title or address: every word given (balcony parking); "a phrase" '
            "in quotes; -word leaves out listings with it; `or` between alternatives. Case does not matter "
            "and English word forms match (balconies finds balcony); words as common as 'the' are left out. "
            "Repeat to ask for each (a region's words and yours).",
            "example": "balcony -basement",
        },
    )
    sort = ma.fields.String(
        load_default="newest",
        validate=validate.OneOf(SORTS),
        metadata={
            "description": "newest | price | price_desc | value (price relative to p50) | price_cut (the "
            "largest share of the price taken off by the last change first; no cut last) | distance (the "
            "nearest to distance_from, or to near, first) | available (the soonest one may move in first; "
            "of those free already, the longest free; those not saying when last)"
        },
    )
    distance_from = LatLon(
        metadata={
            "description": "lat,lon of a place that matters (work, a school): each listing says how far "
            "it is from there (`distance_m`), and sort=distance puts the nearest first. Default: near.",
            "example": "43.6453,-79.3806",
        }
    )
    limit = ma.fields.Integer(load_default=20, validate=validate.Range(1, MAX_PAGE))
    cursor = ma.fields.String(validate=validate.Length(max=500))

    @ma.validates_schema
    def _ranges(self, data: dict, **_: object) -> None:
        for low, high in (
            ("bedrooms_min", "bedrooms_max"),
            ("bathrooms_min", "bathrooms_max"),
            ("price_min", "price_max"),
            ("sqft_min", "sqft_max"),
        ):
            if low in data and high in data and data[low] > data[high]:
                raise ma.ValidationError(f"{low} is above {high}", field_name=low)
        if data.get("sort") == "distance" and "distance_from" not in data and "near" not in data:
            raise ma.ValidationError(
                "sort=distance needs distance_from (lat,lon), or near", field_name="sort"
            )


class ListingSearchArgs(ListingFilters):
    """A search: exactly one area (region_id, bbox, or near + radius_m) and filters."""

    region_id = ma.fields.Integer(validate=validate.Range(1, 2**31 - 1))
    bbox = BBox(
        metadata={"description": "minLon,minLat,maxLon,maxLat", "example": "-79.42,43.63,-79.35,43.68"}
    )
    near = LatLon(metadata={"description": "lat,lon", "example": "43.6532,-79.3832"})
    radius_m = ma.fields.Float(validate=validate.Range(1, 50_000), metadata={"description": "with near"})

    @ma.validates_schema
    def _one_area(self, data: dict, **_: object) -> None:
        given = [name for name in ("region_id", "bbox", "near") if name in data]
        if len(given) != 1:
            raise ma.ValidationError(
                "give exactly one area: region_id, bbox, or near (with radius_m)", field_name="area"
            )
        if ("near" in data) != ("radius_m" in data):
            raise ma.ValidationError("near and radius_m go together", field_name="radius_m")


class LocationSchema(ma.Schema):
    latitude = ma.fields.Float(required=True)
    longitude = ma.fields.Float(required=True)


class PriceRankSchema(ma.Schema):
    label = ma.fields.String(required=True, validate=validate.OneOf(PRICE_LABELS))
    p25 = ma.fields.Integer(required=True)
    p50 = ma.fields.Integer(required=True)
    p75 = ma.fields.Integer(required=True)
    model_version = ma.fields.String(required=True)


class PriceChangeSchema(ma.Schema):
    """A listing's last change of asking price."""

    previous_price = ma.fields.Integer(required=True, metadata={"description": "the price before it"})
    changed_at = ma.fields.AwareDateTime(required=True, metadata={"description": "when nook saw it"})
    percent = ma.fields.Float(
        required=True, metadata={"description": "signed, of the price before: a cut is negative"}
    )
    words = ma.fields.String(required=True, metadata={"example": "Cut 6% on 20 Nov 2026, from $2,400."})


class PriceHistoryEntrySchema(ma.Schema):
    price = ma.fields.Integer(required=True)
    since = ma.fields.AwareDateTime(
        allow_none=True,
        required=True,
        metadata={
            "description": "when nook first saw the listing at this price; null for the first price "
            "kept when earlier changes are left out"
        },
    )


class ListingSchema(ma.Schema):
    """A listing in search results."""

    id = ma.fields.Integer(required=True)
    title = ma.fields.String(allow_none=True, required=True)
    price = ma.fields.Integer(required=True)
    bedrooms = ma.fields.Integer(required=True)
    bathrooms = ma.fields.Float(allow_none=True, required=True)
    sqft = ma.fields.Integer(allow_none=True, required=True)
    unit_type = ma.fields.String(allow_none=True, required=True)
    furnished = ma.fields.Boolean(allow_none=True, required=True)
    location = ma.fields.Nested(LocationSchema, required=True)
    url = ma.fields.String(allow_none=True, required=True)
    posted_at = ma.fields.AwareDateTime(required=True)
    available_from = ma.fields.Date(
        allow_none=True,
        required=True,
        metadata={"description": "The first day one may move in, as its source says (null: it does not)."},
    )
    price_rank = ma.fields.Nested(PriceRankSchema, allow_none=True, required=True)
    price_change = ma.fields.Nested(
        PriceChangeSchema,
        allow_none=True,
        required=True,
        metadata={"description": "the last change of its asking price; null if nook never saw one"},
    )
    distance_m = ma.fields.Integer(
        metadata={
            "description": "How far it is from distance_from (or near), in metres; only if one was given."
        }
    )


class ListingDetailSchema(ListingSchema):
    """A listing with its explanation."""

    status = ma.fields.String(required=True)
    address = ma.fields.String(allow_none=True, required=True)
    first_seen_at = ma.fields.AwareDateTime(required=True)
    last_seen_at = ma.fields.AwareDateTime(required=True)
    explanation = ma.fields.String(
        allow_none=True,
        required=True,
        metadata={
            "description": "The price rank in plain words; for an active listing without one that is "
            "outside the price model's market, why it is not judged; else null."
        },
    )
    chart_url = ma.fields.String(allow_none=True, required=True)
    price_history = ma.fields.List(
        ma.fields.Nested(PriceHistoryEntrySchema),
        required=True,
        metadata={"description": "each asking price nook saw, oldest first (the last 100 changes)"},
    )


class ListingPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(ListingSchema), required=True)
    next_cursor = ma.fields.String(allow_none=True, required=True)


class SimilarArgs(StrictSchema):
    limit = ma.fields.Integer(load_default=5, validate=validate.Range(1, MAX_SIMILAR))


class SimilarListingSchema(ListingSchema):
    distance_m = ma.fields.Integer(
        required=True, metadata={"description": "How far it is from the listing asked about, in metres."}
    )


class SimilarSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(SimilarListingSchema), required=True)


class EstimateRequest(StrictSchema):
    """A hypothetical listing (and optionally its asking price)."""

    bedrooms = ma.fields.Integer(required=True, validate=validate.Range(0, 20))
    bathrooms = ma.fields.Float(allow_none=True, validate=validate.Range(0, 20))
    sqft = ma.fields.Integer(allow_none=True, validate=validate.Range(80, 20_000))
    unit_type = ma.fields.String(allow_none=True, validate=validate.OneOf(UNIT_TYPES))
    furnished = ma.fields.Boolean(allow_none=True)
    latitude = ma.fields.Float(required=True, validate=validate.Range(-90, 90))
    longitude = ma.fields.Float(required=True, validate=validate.Range(-180, 180))
    price = ma.fields.Integer(validate=validate.Range(1, 100_000))


class RangeSchema(ma.Schema):
    low = ma.fields.Integer(required=True)
    high = ma.fields.Integer(required=True)


class EstimateSchema(ma.Schema):
    """Expected rent range, the label of the given price, in plain words."""

    p25 = ma.fields.Float(required=True)
    p50 = ma.fields.Float(required=True)
    p75 = ma.fields.Float(required=True)
    typical_range = ma.fields.Nested(RangeSchema, required=True)
    price = ma.fields.Integer(allow_none=True, required=True)
    label = ma.fields.String(allow_none=True, required=True)
    explanation = ma.fields.String(required=True)
    model_version = ma.fields.String(required=True)
    chart_svg = ma.fields.String(required=True)


class CriteriaSchema(StrictSchema):
    """What a listing in the region must be to alert."""

    bedrooms_min = ma.fields.Integer(allow_none=True, validate=validate.Range(0, 20))
    bedrooms_max = ma.fields.Integer(allow_none=True, validate=validate.Range(0, 20))
    bathrooms_min = ma.fields.Float(allow_none=True, validate=validate.Range(0, 20))
    price_max = ma.fields.Integer(allow_none=True, validate=validate.Range(1, 100_000))
    unit_types = ma.fields.List(ma.fields.String(validate=validate.OneOf(UNIT_TYPES)), allow_none=True)
    sqft_min = ma.fields.Integer(
        allow_none=True,
        validate=validate.Range(1, MAX_SQFT),
        metadata={
            "description": "At least this floor area (sq ft); a listing that gives none does not meet it."
        },
    )
    furnished = ma.fields.Boolean(
        allow_none=True, metadata={"description": "true: furnished flats only; false: unfurnished only."}
    )
    available_by = ma.fields.Date(
        allow_none=True,
        metadata={
            "description": "Flats one may move into by this day (YYYY-MM-DD): available from it or earlier, "
            "or not saying from when. None: any.",
            "example": "2027-04-01",
        },
    )
    words = Text(
        allow_none=True,
        validate=validate.Length(1, MAX_WORDS),
        metadata={
            "description": "Words the listing's title or address must have, as a search's `q` takes them "
            '(parking -basement; "a phrase"; or). None: any.'
        },
    )
    labels = ma.fields.List(
        ma.fields.String(validate=validate.OneOf(PRICE_LABELS)),
        allow_none=True,
        metadata={
            "description": "The price ranks wanted (low, typical, high; none: any). A listing nook does not "
            "rank meets none. Judged when an alert is sent: one of a listing ranked otherwise is withdrawn."
        },
    )

    @ma.validates_schema
    def _order(self, data: dict, **_: object) -> None:
        low, high = data.get("bedrooms_min"), data.get("bedrooms_max")
        if low is not None and high is not None and low > high:
            raise ma.ValidationError("bedrooms_min is above bedrooms_max", field_name="bedrooms_min")


ALERTS = (
    "Whether a new listing here that meets the criteria queues an alert (default true). Off, the region "
    "is there to browse: switching alerts off withdraws those not sent yet, and switching them on again "
    "alerts the listings placed from then on."
)


class RegionCreate(StrictSchema):
    name = Text(required=True, validate=validate.Length(1, 120))
    geometry = ma.fields.Dict(
        required=True,
        metadata={
            "description": "GeoJSON Polygon or MultiPolygon (or a Feature holding one), WGS 84 lon/lat"
        },
    )
    criteria = ma.fields.Nested(CriteriaSchema, load_default=dict)
    alerts = ma.fields.Boolean(load_default=True, metadata={"description": ALERTS})


class RegionPatch(StrictSchema):
    name = Text(validate=validate.Length(1, 120))
    geometry = ma.fields.Dict(metadata={"description": "GeoJSON Polygon or MultiPolygon (or a Feature)"})
    criteria = ma.fields.Nested(CriteriaSchema)
    alerts = ma.fields.Boolean(metadata={"description": ALERTS})


class RegionSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    geometry = ma.fields.Dict(required=True, metadata={"description": "GeoJSON MultiPolygon"})
    criteria = ma.fields.Nested(CriteriaSchema, required=True)
    alerts = ma.fields.Boolean(required=True, metadata={"description": ALERTS})
    area_km2 = ma.fields.Float(required=True)
    created_at = ma.fields.AwareDateTime(required=True)
    updated_at = ma.fields.AwareDateTime(required=True)


class RegionListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(RegionSchema), required=True)


class PageArgs(StrictSchema):
    limit = ma.fields.Integer(load_default=20, validate=validate.Range(1, MAX_PAGE))
    cursor = ma.fields.String(validate=validate.Length(max=500))


class AlertArgs(PageArgs):
    region_id = ma.fields.Integer(
        validate=validate.Range(1, 2**31 - 1), metadata={"description": "only this region's alerts"}
    )
    status = ma.fields.String(
        validate=validate.OneOf(NOTIFICATION_STATUSES),
        metadata={"description": "only alerts with this status"},
    )
    reason = ma.fields.String(
        validate=validate.OneOf(ALERT_REASONS),
        metadata={"description": "only alerts queued for this reason (new, price_cut)"},
    )


class AlertRegionSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)


class AlertSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    created_at = ma.fields.AwareDateTime(required=True)
    status = ma.fields.String(
        required=True,
        validate=validate.OneOf(NOTIFICATION_STATUSES),
        metadata={
            "description": "queued: waiting to be sent; sent: your webhook took it, or SES took its email; "
            "expired: not sent within NOOK_ALERT_MAX_AGE_HOURS (72) of being queued, so it never is"
        },
    )
    sent_at = ma.fields.AwareDateTime(
        allow_none=True, required=True, metadata={"description": "when it was last sent"}
    )
    sent_via = ma.fields.String(
        allow_none=True,
        required=True,
        validate=validate.OneOf(ALERT_CHANNELS),
        metadata={"description": "the way it was last sent: to your webhook, or by email (null: not yet)"},
    )
    reason = ma.fields.String(
        required=True,
        validate=validate.OneOf(ALERT_REASONS),
        metadata={
            "description": "why it was (last) queued: new: the flat is new to the region; price_cut: the "
            "region was told of it (or missed it), and its price was cut by NOOK_PRICE_CUT_ALERT_PERCENT "
            "(3) or more since (created_at is then when that was)"
        },
    )
    region = ma.fields.Nested(AlertRegionSchema, required=True)
    listing = ma.fields.Nested(ListingSchema, required=True)


class AlertPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(AlertSchema), required=True)
    next_cursor = ma.fields.String(allow_none=True, required=True)


class SavedListingSchema(ListingSchema):
    status = ma.fields.String(
        required=True,
        metadata={
            "description": "active: still listed; pending: a change of it being read; delisted: taken down; "
            "expired: no longer seen; rejected: its source's latest version of it could not be read"
        },
    )


class ClashSchema(ma.Schema):
    """Another viewing of yours too close to a viewing."""

    listing_id = ma.fields.Integer(required=True, metadata={"description": "the flat, as your list shows it"})
    title = ma.fields.String(allow_none=True, required=True)
    price = ma.fields.Integer(
        allow_none=True, required=True, metadata={"description": "its asking price now"}
    )
    at = ma.fields.AwareDateTime(required=True, metadata={"description": "when it is"})


class ViewingSchema(ma.Schema):
    """A viewing you booked of a saved flat."""

    at = ma.fields.AwareDateTime(required=True, metadata={"description": "when it is"})
    local = ma.fields.String(
        required=True,
        metadata={"description": "when it is on the clock it was booked on", "example": "2026-12-05T18:00"},
    )
    time_zone = ma.fields.String(
        required=True, metadata={"description": "that clock's time zone", "example": "Europe/Berlin"}
    )
    clashes = ma.fields.List(
        ma.fields.Nested(ClashSchema),
        required=True,
        metadata={
            "description": "your other viewings ahead (of flats not ruled out) that start less than an hour "
            "from this one, soonest first: half an hour at one flat and the way to the next"
        },
    )


class SavedSchema(ma.Schema):
    """A listing on your shortlist."""

    listing = ma.fields.Nested(
        SavedListingSchema,
        required=True,
        metadata={
            "description": "the flat as it is now (the listing saved, or the one it was found to copy)"
        },
    )
    saved_at = ma.fields.AwareDateTime(required=True)
    saved_price = ma.fields.Integer(required=True, metadata={"description": "its asking price when saved"})
    still_listed = ma.fields.Boolean(required=True)
    note = ma.fields.String(allow_none=True, required=True, metadata={"description": "your note on it"})
    stage = ma.fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "where you are with it (null: just saved)", "enum": list(SAVED_STAGES)},
    )
    stage_at = ma.fields.AwareDateTime(
        allow_none=True, required=True, metadata={"description": "when you set the stage it is at"}
    )
    viewing = ma.fields.Nested(
        ViewingSchema,
        allow_none=True,
        required=True,
        metadata={"description": "the viewing you booked of it, if any (reminded before it)"},
    )
    rating = ma.fields.Integer(
        allow_none=True, required=True, metadata={"description": "your stars for it (null: not rated)"}
    )
    since_saved = ma.fields.String(
        required=True,
        metadata={"description": "what became of it, in words: a cut or raise since it was saved, or gone"},
    )


class ViewingBody(StrictSchema):
    at = ma.fields.DateTime(
        required=True,
        metadata={
            "description": "when it is: a time on your clock (or with an offset: that instant); ahead, "
            "within a year",
            "example": "2026-12-05T18:00",
        },
    )
    time_zone = Text(
        required=True,
        validate=validate.Length(1, 64),
        metadata={"description": "your clock: a time zone as the IANA names it", "example": "Europe/Berlin"},
    )


class SavedChangeBody(StrictSchema):
    note = Text(
        allow_none=True,
        validate=validate.Length(max=MAX_NOTE),
        metadata={
            "description": "your words of it (a viewing booked, a question to ask); null or empty: none"
        },
    )
    stage = ma.fields.String(
        allow_none=True,
        validate=validate.OneOf(SAVED_STAGES),
        metadata={
            "description": "where you are with it: contacted, viewing (booked), viewed, applied, ruled_out "
            "(nook tells you no news of it); null: just saved"
        },
    )

    viewing = ma.fields.Nested(
        ViewingBody,
        allow_none=True,
        metadata={
            "description": "a viewing you booked: nook reminds you before it, and the stage becomes "
            "viewing unless you say another; null: none"
        },
    )
    rating = ma.fields.Integer(
        strict=True,
        allow_none=True,
        validate=validate.Range(1, MAX_RATING),
        metadata={"description": f"how much you like it, 1 to {MAX_RATING} stars; null: not rated"},
    )

    @ma.validates_schema
    def _something(self, data: dict, **_: object) -> None:
        if not data:
            raise ma.ValidationError("say what changes: note, stage, viewing, rating (null clears any)")


SAVED_SORTS = ("saved", "price", "value", "viewing", "distance", "rating", "available")


class SavedArgs(PageArgs):
    stage = ma.fields.String(
        validate=validate.OneOf([*SAVED_STAGES, "none"]),
        metadata={"description": "only those at this stage (none: just saved)"},
    )
    sort = ma.fields.String(
        load_default="saved",
        validate=validate.OneOf(SAVED_SORTS),
        metadata={
            "description": "saved: last saved first (the default); price: the lowest asking price first; "
            "value: the best value first (the lowest price for its range's middle; flats not ranked, then "
            "those no longer listed, last); viewing: the soonest viewing ahead first (then the rest, last "
            "saved first); distance: the nearest distance_from, or your place, first; rating: the most "
            "stars first (those not rated last), each rating's last saved first; available: the soonest "
            "one may move in first (of those free already, the longest free; those not saying when, "
            "then those no longer listed, last)"
        },
    )
    distance_from = LatLon(
        metadata={
            "description": "lat,lon of a place that matters: each flat says how far it is from there "
            "(`distance_m`). Default for sort=distance: your place.",
            "example": "43.6453,-79.3806",
        }
    )


class SavedPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(SavedSchema), required=True)
    next_cursor = ma.fields.String(allow_none=True, required=True)


class ShareBody(StrictSchema):
    notes = ma.fields.Boolean(
        load_default=False,
        metadata={
            "description": "Whether the page shows your notes too, with your stages, viewing times and stars "
            "(default false)."
        },
    )


class ExportSchema(ma.Schema):
    url = ma.fields.String(
        required=True,
        metadata={"description": "Where the JSON document is read (no key needed: keep it to yourself)."},
    )
    expires_at = ma.fields.AwareDateTime(
        required=True, metadata={"description": "When the link stops working."}
    )
    bytes = ma.fields.Integer(required=True, metadata={"description": "The document's size."})
    counts = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Integer(),
        required=True,
        metadata={"description": "How many regions, saved, hidden listings and alerts it holds."},
    )


class ImportDocument(ma.Schema):
    """An export (`nook-export/1`): its parts are read item by item, and an item nook cannot take is said in
    the answer, not refused with the rest; anything else in it (the time it was made, the alerts) is left."""

    class Meta:
        unknown = ma.EXCLUDE

    format = ma.fields.String(
        required=True,
        validate=validate.Equal(EXPORT_FORMAT, error=f"this nook reads {EXPORT_FORMAT} documents"),
        metadata={"description": f"{EXPORT_FORMAT}, as an export says"},
    )
    account = ma.fields.Dict(
        load_default=dict,
        metadata={
            "description": "Its place, quiet hours and viewing reminders' lead are taken where you have none."
        },
    )
    regions = ma.fields.List(ma.fields.Raw(), load_default=list)
    saved = ma.fields.List(ma.fields.Raw(), load_default=list)
    hidden = ma.fields.List(ma.fields.Raw(), load_default=list)


class ImportProblemSchema(ma.Schema):
    item = ma.fields.Integer(required=True, metadata={"description": "Its place in the part, from 0."})
    reason = ma.fields.String(required=True)


class ImportPartSchema(ma.Schema):
    added = ma.fields.Integer(required=True)
    already_here = ma.fields.Integer(
        required=True, metadata={"description": "A region with its name and shape, a flat you keep already."}
    )
    not_imported = ma.fields.Integer(required=True)
    problems = ma.fields.List(
        ma.fields.Nested(ImportProblemSchema),
        required=True,
        metadata={"description": "Why each item was not imported (the first 100)."},
    )


def _outcome(description: str) -> ma.fields.String:
    """What an import did with a setting of the account."""
    return ma.fields.String(
        required=True,
        validate=validate.OneOf(("added", "kept", "absent")),
        metadata={"description": description},
    )


class ImportReportSchema(ma.Schema):
    regions = ma.fields.Nested(ImportPartSchema, required=True)
    saved = ma.fields.Nested(ImportPartSchema, required=True)
    hidden = ma.fields.Nested(ImportPartSchema, required=True)
    place = _outcome("added (you had none), kept (yours stays) or absent (the document has none).")
    quiet_hours = _outcome(
        "added (you had none), kept (yours stay) or absent (the document has none your pace would let you "
        "have here)."
    )
    viewing_reminder = _outcome(
        "The lead of your viewings' reminders: added (you had not chosen one), kept (yours stays) or absent "
        "(the document chose none)."
    )
    complete = ma.fields.Boolean(
        required=True,
        metadata={
            "description": "False: time ran out before every region was drawn; send it again for the rest."
        },
    )


class AddressRequest(StrictSchema):
    email = EmailAddress(
        required=True,
        validate=validate.Length(1, 320),
        metadata={"description": "Your address: the link goes there."},
    )


class LinkAnswer(ma.Schema):
    detail = ma.fields.String(
        required=True, metadata={"description": "The same whether an account has the address or not."}
    )


class ShareSchema(ma.Schema):
    url = ma.fields.String(
        allow_none=True,
        required=True,
        metadata={
            "description": "The page that shows your saved listings to anyone with it (null: not shared)."
        },
    )
    notes = ma.fields.Boolean(required=True, metadata={"description": "Whether that page shows your notes."})


class CalendarFeedSchema(ma.Schema):
    url = ma.fields.String(
        allow_none=True,
        required=True,
        metadata={
            "description": "The calendar feed of your viewings, for a calendar app to subscribe to (anyone "
            "with it sees them: when, where, your notes); null: not published."
        },
    )


class HiddenSchema(ma.Schema):
    """A listing you are not interested in."""

    listing = ma.fields.Nested(
        SavedListingSchema,
        required=True,
        metadata={
            "description": "the flat as it is now (the listing hidden, or the one it was found to copy)"
        },
    )
    hidden_at = ma.fields.AwareDateTime(required=True)


class HiddenPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(HiddenSchema), required=True)
    next_cursor = ma.fields.String(allow_none=True, required=True)


class WebhookBody(StrictSchema):
    url = Text(required=True, validate=validate.Length(1, 2000))


class EmailTroubleSchema(ma.Schema):
    reason = ma.fields.String(required=True)
    at = ma.fields.AwareDateTime(required=True, metadata={"description": "When SES said so."})


class PlaceSchema(StrictSchema):
    """A place, in degrees (WGS 84)."""

    latitude = ma.fields.Float(required=True, validate=validate.Range(-90, 90))
    longitude = ma.fields.Float(required=True, validate=validate.Range(-180, 180))


PLACE = (
    "A place that matters to you (work, a school): the map page says how far each listing is from it and "
    "can put the nearest first, in any browser you sign in on (null: none)."
)


class QuietHoursSchema(StrictSchema):
    """Hours no message goes to you (a night's sleep), on your clock: what comes meanwhile waits."""

    from_ = ma.fields.Integer(
        data_key="from",
        required=True,
        validate=validate.Range(0, 23),
        metadata={"description": "the hour they start, o'clock (0-23)", "example": 22},
    )
    until = ma.fields.Integer(
        required=True,
        validate=validate.Range(0, 23),
        metadata={
            "description": "the hour they end, o'clock (0-23; before `from`: the next day)",
            "example": 7,
        },
    )
    time_zone = Text(
        required=True,
        validate=validate.Length(1, 64),
        metadata={
            "description": "your clock: a time zone as the IANA names it",
            "example": "America/Toronto",
        },
    )

    @ma.validates_schema
    def _some_hours(self, data: dict, **_: object) -> None:
        if data.get("from_") is not None and data.get("from_") == data.get("until"):
            raise ma.ValidationError("from and until are the same hour: no quiet hours", field_name="until")


QUIET = "Hours no message goes to you, on your clock; what comes meanwhile waits for their end (null: none)."


class MeSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    email = ma.fields.String(required=True)
    webhook_url = ma.fields.String(allow_none=True, required=True)
    email_alerts = ma.fields.Boolean(
        required=True, metadata={"description": "Whether your alerts are emailed to you instead of posted."}
    )
    alerts_to = ma.fields.String(
        allow_none=True,
        required=True,
        validate=validate.OneOf(["email", "webhook"]),
        metadata={"description": "Where your alerts go now: email, webhook, or nowhere (null)."},
    )
    email_available = ma.fields.Boolean(
        required=True, metadata={"description": "Whether this nook sends email (email alerts can be on)."}
    )
    alerts_every_minutes = ma.fields.Integer(
        required=True,
        metadata={"description": "Your alerts come at most this often, in minutes (0: as they come)."},
    )
    next_alerts_at = ma.fields.AwareDateTime(
        allow_none=True,
        required=True,
        metadata={
            "description": "When your next message may go, if your pace or your quiet hours hold it back now."
        },
    )
    api_key_prefix = ma.fields.String(
        required=True, metadata={"description": "The start of your API key, to tell which one is in use."}
    )
    old_key_valid_until = ma.fields.AwareDateTime(
        allow_none=True,
        required=True,
        metadata={"description": "Until when the key you replaced last still works, if you asked it to."},
    )
    email_trouble = ma.fields.Nested(
        EmailTroubleSchema,
        allow_none=True,
        required=True,
        metadata={
            "description": "Why your email alerts were stopped, if SES said your address bounced for good or "
            "an email was marked as spam there (null: no trouble). Turning email alerts on again clears it."
        },
    )
    pending_email = ma.fields.String(
        allow_none=True,
        required=True,
        metadata={
            "description": "The address you asked to move to, waiting for you to open the link mailed there "
            "(null: none waits)."
        },
    )
    pending_email_until = ma.fields.AwareDateTime(
        allow_none=True,
        required=True,
        metadata={"description": "Until when that link works."},
    )
    place = ma.fields.Nested(PlaceSchema, allow_none=True, required=True, metadata={"description": PLACE})
    quiet_hours = ma.fields.Nested(
        QuietHoursSchema, allow_none=True, required=True, metadata={"description": QUIET}
    )
    viewing_reminder_minutes = ma.fields.Integer(
        required=True,
        metadata={"description": "How long before a viewing you booked you are reminded of it (0: never)."},
    )


class MeChange(StrictSchema):
    email = ma.fields.String(
        validate=validate.Length(1, 320),
        metadata={
            "description": "Your address: where your alerts go if they come by email. Where this nook "
            "sends email, it changes once you open the link mailed to it (a 202 says one went); links in "
            "emails sent to the old address then stop working."
        },
    )
    alerts_every_minutes = ma.fields.Integer(
        validate=validate.Range(0, MAX_ALERT_EVERY_MINUTES),
        metadata={
            "description": "Send what is due at most this often, in minutes: 0 as it comes (the default), "
            "60 hourly, 1440 daily (the most: alerts are news for three days)."
        },
    )
    place = ma.fields.Nested(PlaceSchema, allow_none=True, metadata={"description": PLACE})
    quiet_hours = ma.fields.Nested(QuietHoursSchema, allow_none=True, metadata={"description": QUIET})
    viewing_reminder_minutes = ma.fields.Integer(
        strict=True,
        allow_none=True,
        validate=validate.Range(0, MAX_REMINDER_MINUTES),
        metadata={
            "description": "How long before a viewing you booked you are reminded of it, in minutes: 0 "
            f"never, up to {MAX_REMINDER_MINUTES} (two days); null: this nook's lead "
            "(NOOK_VIEWING_REMINDER_HOURS). A reminder already sent is not sent again."
        },
    )


class NewKeyBody(StrictSchema):
    keep_old_key_minutes = ma.fields.Integer(
        load_default=0,
        validate=validate.Range(0, 1440),
        metadata={
            "description": "How long the key you call with keeps working (0 to 1440 minutes; 0: it stops at "
            "once): time to put the new key everywhere it is used, and to ask again with the old one if "
            "the answer was lost. A later replacement ends it."
        },
    )


class NewKeySchema(MeSchema):
    api_key = ma.fields.String(
        required=True,
        metadata={"description": "Your new API key, shown this once (nook keeps only its digest)."},
    )
