"""A simulated rental market, so a fresh machine has realistic data.

The city ("Lakeview") has neighbourhoods with different price levels. Listing
number `i` appears at a time fixed by the seed, lives for a while (some drop
their price after a week), then disappears. Rent depends on bedrooms,
bathrooms, size, unit type, furnishing and location, with noise that grows
with the size of the place. One listing in ten is re-posted on a second
("mirror") source a few hours later; about 2% of records are broken.

Everything is a pure function of (seed, index): the same seed and clock give
the same feed, byte for byte.
"""

from __future__ import annotations

import bisect
import functools
import math
import random
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
CENTER = (43.6532, -79.3832)
KM_PER_DEG_LAT = 111.32
MAX_LIFETIME_DAYS = 60


@dataclass(frozen=True)
class Neighbourhood:
    """A part of the city: where it is (km from the centre), its size and price level."""

    name: str
    north_km: float
    east_km: float
    radius_km: float
    price_level: float
    weight: float


NEIGHBOURHOODS = (
    Neighbourhood("Downtown Core", 0.0, 0.0, 1.4, 1.38, 14),
    Neighbourhood("Harbourfront", -1.4, -0.8, 0.9, 1.30, 7),
    Neighbourhood("Annex", 2.6, -2.4, 1.1, 1.26, 6),
    Neighbourhood("Midtown", 5.2, 0.3, 1.8, 1.18, 9),
    Neighbourhood("Little Italy", 1.4, -3.9, 1.1, 1.14, 5),
    Neighbourhood("Riverdale", 2.4, 3.4, 1.2, 1.12, 5),
    Neighbourhood("Leslieville", 0.9, 5.2, 1.4, 1.08, 6),
    Neighbourhood("Danforth", 3.6, 6.6, 1.4, 1.02, 5),
    Neighbourhood("Junction", 3.4, -8.8, 1.5, 0.97, 5),
    Neighbourhood("East York", 6.3, 6.2, 2.0, 0.92, 6),
    Neighbourhood("North York", 14.0, 0.5, 3.0, 0.95, 10),
    Neighbourhood("Etobicoke", 3.0, -15.0, 3.5, 0.86, 8),
    Neighbourhood("Weston", 10.0, -10.0, 2.4, 0.80, 5),
    Neighbourhood("Scarborough", 10.0, 15.0, 4.0, 0.78, 9),
)

UNIT_TYPES = ("apartment", "condo", "house", "basement", "townhouse", "room")
TYPE_LABELS = {  # how the feed spells them (process maps them back)
    "apartment": "Apartment",
    "condo": "Condo",
    "house": "House",
    "basement": "Basement Apartment",
    "townhouse": "Townhouse",
    "room": "Room for rent",
}
TYPE_FACTOR = {
    "apartment": 1.0,
    "condo": 1.08,
    "house": 1.16,
    "basement": 0.78,
    "townhouse": 1.07,
    "room": 0.52,
}
BEDROOMS = {
    "apartment": ((0, 1, 2, 3), (15, 42, 30, 13)),
    "condo": ((0, 1, 2, 3), (10, 46, 34, 10)),
    "house": ((2, 3, 4, 5), (14, 44, 31, 11)),
    "basement": ((0, 1, 2, 3), (16, 50, 29, 5)),
    "townhouse": ((2, 3, 4), (30, 50, 20)),
    "room": ((1,), (1,)),
}
BROKEN_SHARE = 0.02
MIRROR_SHARE = 0.10
# Arrival rate by weekday (Monday first; mean 1) and the day-to-day noise (sd of its log).
WEEKLY_RATE = (1.15, 1.12, 1.08, 1.05, 1.0, 0.72, 0.88)
DAILY_NOISE = 0.12


class ArrivalCurve:
    """Maps a listing's position in the arrival sequence (in mean days) to its time, and back.

    Day d since EPOCH has rate WEEKLY_RATE[weekday] * exp(noise_d); within a day
    arrivals are even. position(t) is the cumulative rate, a strictly increasing
    piecewise-linear function, so the listings of [start, end) are a range of indices.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rates: list[float] = []
        self.cumulative: list[float] = [0.0]
        self._lock = threading.Lock()  # the demo feed serves from several threads

    def _extend(self, days: int) -> None:
        if len(self.rates) >= days:
            return
        with self._lock:
            self._grow(days)

    def _grow(self, days: int) -> None:
        while len(self.rates) < days:
            day = len(self.rates)
            noise = random.Random(f"nook-demo-day:{self.seed}:{day}").gauss(0, DAILY_NOISE)
            rate = WEEKLY_RATE[(EPOCH.weekday() + day) % 7] * math.exp(noise - DAILY_NOISE**2 / 2)
            self.rates.append(rate)
            self.cumulative.append(self.cumulative[-1] + rate)

    def position(self, moment: datetime) -> float:
        """Expected arrivals (in mean days) between EPOCH and `moment` (0 before EPOCH)."""
        days = (moment - EPOCH).total_seconds() / 86400
        if days <= 0:
            return 0.0
        whole = int(days)
        self._extend(whole + 1)
        return self.cumulative[whole] + self.rates[whole] * (days - whole)

    def time_of(self, position: float) -> datetime:
        """The moment the cumulative rate reaches `position` (the inverse of position())."""
        while self.cumulative[-1] <= position:
            self._extend(len(self.rates) + 64)
        day = bisect.bisect_right(self.cumulative, position) - 1
        return EPOCH + timedelta(days=day + (position - self.cumulative[day]) / self.rates[day])


@functools.lru_cache(maxsize=64)
def arrival_curve(seed: int) -> ArrivalCurve:
    """The (shared, lazily extended) arrival curve of a seed."""
    return ArrivalCurve(seed)


@dataclass(frozen=True)
class MarketListing:
    """One simulated listing with its life span (times are UTC)."""

    index: int
    appears_at: datetime
    disappears_at: datetime
    drop_at: datetime | None
    unit_type: str
    bedrooms: int
    bathrooms: float
    sqft: int
    show_sqft: bool
    furnished: bool
    latitude: float
    longitude: float
    neighbourhood: str
    price: int
    dropped_price: int | None
    broken: str | None
    mirrored: bool

    def price_at(self, moment: datetime) -> int:
        """The asking rent at a moment (after a price drop, the lower one)."""
        if self.drop_at is not None and moment >= self.drop_at and self.dropped_price:
            return self.dropped_price
        return self.price

    def updated_at(self, moment: datetime) -> datetime:
        """When the record last changed, as seen at `moment`."""
        if self.drop_at is not None and moment >= self.drop_at:
            return self.drop_at
        return self.appears_at

    def active_at(self, moment: datetime) -> bool:
        """Whether the listing is on the market at `moment`."""
        return self.appears_at <= moment < self.disappears_at

    def available(self, posted: datetime | None = None) -> str | None:
        """When its feed says one may move in, as listings write it: a day (often the first or the 15th
        of a month, as ISO or by the month's name) 3-75 days after it is `posted` (by default when it
        appears), "immediately", or nothing (a share say nothing). Drawn apart from the listing's other
        facts, so the market is the one it was before it said."""
        rng = random.Random(f"nook-available:{self.index}")
        kind = rng.random()
        if kind < 0.15:
            return None
        if kind < 0.4:
            return "immediately"
        day = ((posted or self.appears_at) + timedelta(days=rng.uniform(3, 75))).date()
        if rng.random() < 0.5:
            day = day.replace(day=1 if day.day < 15 else 15)
        return day.isoformat() if rng.random() < 0.7 else f"{day:%B} {day.day}, {day.year}"


def _choice(rng: random.Random, options: tuple, weights: tuple) -> Any:
    return rng.choices(options, weights=weights, k=1)[0]


def _place(rng: random.Random) -> tuple[Neighbourhood, float, float]:
    hood = _choice(rng, NEIGHBOURHOODS, tuple(n.weight for n in NEIGHBOURHOODS))
    distance = hood.radius_km * math.sqrt(rng.random())
    angle = rng.uniform(0, 2 * math.pi)
    north = hood.north_km + distance * math.cos(angle)
    east = hood.east_km + distance * math.sin(angle)
    lat = CENTER[0] + north / KM_PER_DEG_LAT
    lon = CENTER[1] + east / (KM_PER_DEG_LAT * math.cos(math.radians(CENTER[0])))
    return hood, lat, lon


def _unit_type(rng: random.Random, hood: Neighbourhood) -> str:
    distance = math.hypot(hood.north_km, hood.east_km)
    suburban = min(1.0, distance / 15)
    weights = (40, 30 - 20 * suburban, 4 + 18 * suburban, 10 + 4 * suburban, 6 + 6 * suburban, 7)
    return _choice(rng, UNIT_TYPES, weights)


def _bathrooms(rng: random.Random, bedrooms: int) -> float:
    if bedrooms <= 1:
        return 1.0 if rng.random() < 0.9 else 1.5
    if bedrooms == 2:
        return _choice(rng, (1.0, 1.5, 2.0), (45, 20, 35))
    return _choice(rng, (1.5, 2.0, 2.5, 3.0), (15, 40, 25, 20))


def _sqft(rng: random.Random, unit_type: str, bedrooms: int) -> int:
    expected = 380 + 330 * bedrooms + {"house": 420, "townhouse": 180, "room": -450}.get(unit_type, 0)
    return max(90, round(expected * math.exp(rng.gauss(0, 0.18)) / 10) * 10)


def _price(
    rng: random.Random,
    unit_type: str,
    bedrooms: int,
    bathrooms: float,
    sqft: int,
    furnished: bool,
    hood: Neighbourhood,
    lat: float,
    lon: float,
) -> int:
    expected_sqft = 380 + 330 * bedrooms + {"house": 420, "townhouse": 180, "room": -450}.get(unit_type, 0)
    base = (1450 + 520 * bedrooms + 190 * (bathrooms - 1)) * TYPE_FACTOR[unit_type]
    size_effect = (sqft / max(expected_sqft, 90)) ** 0.35
    north = (lat - CENTER[0]) * KM_PER_DEG_LAT
    east = (lon - CENTER[1]) * KM_PER_DEG_LAT * math.cos(math.radians(CENTER[0]))
    gradient = math.exp(-0.008 * math.hypot(north, east))
    noise_sd = 0.06 + 0.022 * bedrooms + (0.04 if unit_type == "house" else 0.0)
    price = base * size_effect * (1.12 if furnished else 1.0) * hood.price_level * gradient
    price *= math.exp(rng.gauss(0, noise_sd))
    return max(300, round(price / 25) * 25)


def _broken_kind(rng: random.Random) -> str | None:
    if rng.random() >= BROKEN_SHARE:
        return None
    return _choice(
        rng,
        ("missing_price", "price_text", "bad_latitude", "bedrooms_text", "sqft_text", "garbage"),
        (25, 15, 20, 15, 15, 10),
    )


@functools.lru_cache(maxsize=300_000)
def market_listing(seed: int, index: int, per_day: float) -> MarketListing:
    """Listing number `index` of the market with this seed and arrival rate."""
    rng = random.Random(f"nook-demo:{seed}:{index}")
    appears_at = arrival_curve(seed).time_of((index + rng.random()) / per_day)
    lifetime = min(MAX_LIFETIME_DAYS, max(1.0, 12 * math.exp(rng.gauss(0, 0.6))))
    hood, lat, lon = _place(rng)
    unit_type = _unit_type(rng, hood)
    bedrooms = _choice(rng, *BEDROOMS[unit_type])
    bathrooms = _bathrooms(rng, bedrooms)
    sqft = _sqft(rng, unit_type, bedrooms)
    furnished = rng.random() < (0.6 if unit_type == "room" else 0.12)
    price = _price(rng, unit_type, bedrooms, bathrooms, sqft, furnished, hood, lat, lon)
    drops = lifetime > 10 and rng.random() < 0.3
    return MarketListing(
        index=index,
        appears_at=appears_at,
        disappears_at=appears_at + timedelta(days=lifetime),
        drop_at=appears_at + timedelta(days=7) if drops else None,
        unit_type=unit_type,
        bedrooms=bedrooms,
        bathrooms=bathrooms,
        sqft=sqft,
        show_sqft=rng.random() > (0.35 if unit_type in ("basement", "room") else 0.2),
        furnished=furnished,
        latitude=lat,
        longitude=lon,
        neighbourhood=hood.name,
        price=price,
        dropped_price=round(price * rng.uniform(0.92, 0.97) / 25) * 25 if drops else None,
        broken=_broken_kind(rng),
        mirrored=rng.random() < MIRROR_SHARE,
    )


class Market:
    """The simulated market for one seed and arrival rate (listings per day)."""

    def __init__(self, seed: int = 7, per_day: float = 400.0) -> None:
        self.seed = seed
        self.per_day = per_day

    def listing(self, index: int) -> MarketListing:
        """Listing number `index`."""
        return market_listing(self.seed, index, self.per_day)

    def index_range(self, start: datetime, end: datetime) -> range:
        """Indices of listings that may appear between `start` and `end`."""
        curve = arrival_curve(self.seed)
        first = max(0, math.floor(curve.position(start) * self.per_day) - 1)
        last = max(0, math.ceil(curve.position(end) * self.per_day) + 1)
        return range(first, last)

    def active(self, moment: datetime) -> list[MarketListing]:
        """Every listing on the market at `moment`, oldest first."""
        candidates = self.index_range(moment - timedelta(days=MAX_LIFETIME_DAYS), moment)
        return [item for i in candidates if (item := self.listing(i)).active_at(moment)]

    def appeared_between(self, start: datetime, end: datetime) -> list[MarketListing]:
        """Listings that came on the market in [start, end), active or not now."""
        return [
            item for i in self.index_range(start, end) if start <= (item := self.listing(i)).appears_at < end
        ]


# What a listing's title may boast of (up to two), for a search by words to find; drawn apart from
# the listing's other facts, which stay as they were (and do not move its rent).
FEATURES = (
    "a balcony",
    "parking",
    "in-suite laundry",
    "air conditioning",
    "a dishwasher",
    "a gym",
    "a garden",
    "hardwood floors",
    "a storage locker",
)


def title_of(index: int, bedrooms: int, unit_type: str, neighbourhood: str) -> str:
    """Listing number `index`'s title: what it is, where, and what it has."""
    rooms = "Studio" if bedrooms == 0 else f"{bedrooms}-bedroom"
    if unit_type == "room":
        rooms = "Private"
    title = f"{rooms} {TYPE_LABELS[unit_type].lower()} in {neighbourhood}"
    rng = random.Random(f"nook-features:{index}")
    features = rng.sample(FEATURES, k=_choice(rng, (0, 1, 2), (35, 40, 25)))
    return f"{title} with {' and '.join(features)}" if features else title


def _title(item: MarketListing) -> str:
    return title_of(item.index, item.bedrooms, item.unit_type, item.neighbourhood)


def _address(item: MarketListing) -> str:
    number = 10 + item.index % 890
    street = (
        "King St",
        "Queen St",
        "College St",
        "Bloor St",
        "Dundas St",
        "Danforth Ave",
        "Yonge St",
        "Bathurst St",
        "Spadina Ave",
        "Gerrard St",
    )[item.index % 10]
    return f"{number} {street}, {item.neighbourhood}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def feed_record(item: MarketListing, moment: datetime, base_url: str) -> Any:
    """The main feed's record for a listing at `moment` (broken ones stay broken)."""
    ref = f"A-{item.index}"
    record: dict[str, Any] = {
        "id": ref,
        "headline": _title(item),
        "rent": item.price_at(moment),
        "beds": item.bedrooms,
        "baths": item.bathrooms,
        "size_sqft": item.sqft if item.show_sqft else None,
        "furnished": "yes" if item.furnished else "no",
        "type": TYPE_LABELS[item.unit_type],
        "lat": round(item.latitude, 6),
        "lng": round(item.longitude, 6),
        "address": _address(item),
        "url": f"{base_url}/listings/{ref}",
        "posted": _iso(item.appears_at),
        "updated": _iso(item.updated_at(moment)),
        "available": item.available(),
    }
    breakage = {
        "missing_price": {"rent": None},
        "price_text": {"rent": "Call for price"},
        "bad_latitude": {"lat": round(item.latitude + 100, 6)},
        "bedrooms_text": {"beds": "two"},
        "sqft_text": {"size_sqft": "huge"},
    }
    if item.broken == "garbage":
        return f"#ERROR feed row {item.index} corrupted"
    if item.broken:
        record.update(breakage[item.broken])
    return record


def mirror_record(item: MarketListing, moment: datetime, base_url: str) -> dict[str, Any] | None:
    """The same unit re-posted on the mirror source a few hours later, or None."""
    if not item.mirrored or item.broken:
        return None
    rng = random.Random(f"nook-mirror:{item.index}")
    posted = item.appears_at + timedelta(hours=rng.uniform(2, 30))
    if not posted <= moment < item.disappears_at:
        return None
    metres_north, metres_east = rng.uniform(-2, 2), rng.uniform(-2, 2)
    lat = item.latitude + metres_north / 1000 / KM_PER_DEG_LAT
    lon = item.longitude + metres_east / 1000 / (KM_PER_DEG_LAT * math.cos(math.radians(item.latitude)))
    price = item.price_at(moment)
    if rng.random() < 0.3:
        price = round(price * rng.uniform(0.99, 1.01) / 5) * 5
    ref = f"M-{item.index}"
    return {
        "id": ref,
        "headline": f"{_title(item)} (reposted)",
        "rent": price,
        "beds": item.bedrooms,
        "baths": item.bathrooms,
        "size_sqft": item.sqft if item.show_sqft else None,
        "furnished": "yes" if item.furnished else "no",
        "type": TYPE_LABELS[item.unit_type],
        "lat": round(lat, 7),
        "lng": round(lon, 7),
        "address": _address(item),
        "url": f"{base_url}/listings/{ref}",
        "posted": _iso(posted),
        "updated": _iso(max(posted, item.updated_at(moment))),
        "available": item.available(),
    }


# The demo feed's field names, as a source config maps them.
DEMO_FIELDS = {
    "source_ref": "id",
    "title": "headline",
    "price": "rent",
    "bedrooms": "beds",
    "bathrooms": "baths",
    "sqft": "size_sqft",
    "furnished": "furnished",
    "unit_type": "type",
    "latitude": "lat",
    "longitude": "lng",
    "address": "address",
    "url": "url",
    "posted_at": "posted",
    "updated_at": "updated",
    "available_from": "available",
}
