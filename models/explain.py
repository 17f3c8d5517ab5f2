"""Price ranks in plain words, with figures rounded the way people quote rents.

"$3,250 is typical for this type of listing. Listings with the same number of
bedrooms and bathrooms, similar size and location usually rent for $3,175 to
$4,200." Bounds are rounded outward to a sensible step (never "$3,183.23").
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any

LABELS = ("low", "typical", "high")


def label_for(price: float, p25: float, p75: float) -> str:
    """Below p25 is low, above p75 is high, otherwise typical."""
    if price < p25:
        return "low"
    if price > p75:
        return "high"
    return "typical"


def rent_step(amount: float) -> int:
    """The rounding step people use for a rent of this size."""
    if amount < 1000:
        return 10
    if amount < 10_000:
        return 25
    return 100


def round_down(amount: float) -> int:
    """Round a lower bound down to a sensible step."""
    step = rent_step(amount)
    return int(math.floor(amount / step) * step)


def round_up(amount: float) -> int:
    """Round an upper bound up to a sensible step."""
    step = rent_step(amount)
    return int(math.ceil(amount / step) * step)


def money(amount: float) -> str:
    """$3,250 — whole dollars with thousands separators."""
    return f"${round(amount):,}"


def _peers(bedrooms: int | None, bathrooms: float | None, has_size: bool, unit_type: str | None) -> str:
    if unit_type == "room":
        subject, same = "Rooms", []
    elif bedrooms == 0:
        subject, same = "Studios", []
    else:
        subject, same = "Listings", ["bedrooms"] if bedrooms is not None else []
    if bathrooms is not None and unit_type != "room":
        same.append("bathrooms")
    similar = ["size", "location"] if has_size else ["location"]
    if same:
        return f"{subject} with the same number of {' and '.join(same)}, similar {' and '.join(similar)}"
    return f"{subject} of similar {' and '.join(similar)}"


def explanation(
    price: float,
    p25: float,
    p75: float,
    *,
    bedrooms: int | None = None,
    bathrooms: float | None = None,
    has_size: bool = True,
    unit_type: str | None = None,
    label: str | None = None,
) -> str:
    """The two-sentence explanation of a price against its expected range."""
    label = label or label_for(price, p25, p75)
    low, high = round_down(p25), round_up(p75)
    kind = "room" if unit_type == "room" else "studio" if bedrooms == 0 else "listing"
    return (
        f"{money(price)} is {label} for this type of {kind}. "
        f"{_peers(bedrooms, bathrooms, has_size, unit_type)} usually rent for {money(low)} to {money(high)}."
    )


def explain_listing(listing: Any, p25: float, p75: float, label: str | None) -> str:
    """`explanation` of a listing (anything with its price, bedrooms, bathrooms, sqft and unit_type: a
    Listing, a search row) against a rank's range and label."""
    return explanation(
        listing.price,
        p25,
        p75,
        bedrooms=listing.bedrooms,
        bathrooms=listing.bathrooms,
        has_size=listing.sqft is not None,
        unit_type=listing.unit_type,
        label=label,
    )


def priced_facts(listing: Any) -> str:
    """ "$2,375 · 2 bd · 1 ba" : a message's line of a listing's price and facts."""
    return f"${listing.price:,} · {listing_facts(listing)}"


def listing_facts(listing: Any, kind: bool = False) -> str:
    """ "2 bd · 1 ba · 600 sqft" from what the listing says (with `kind`: its unit type and whether it is
    furnished, when it says)."""
    facts = ["studio" if listing.bedrooms == 0 else f"{listing.bedrooms} bd"]
    if listing.bathrooms is not None:
        facts.append(f"{listing.bathrooms:g} ba")
    if listing.sqft:
        facts.append(f"{listing.sqft:,} sqft")
    if kind:
        facts += [listing.unit_type, {True: "furnished", False: "unfurnished"}.get(listing.furnished)]
    return " · ".join(fact for fact in facts if fact)


def available_words(day: date | None, today: date | None = None) -> str | None:
    """When one may move in, in words ("Available from 1 Mar 2027.", "Available now."), or None when the
    listing does not say."""
    if day is None:
        return None
    if day <= (today or datetime.now(UTC).date()):
        return "Available now."
    return f"Available from {day:%-d %b %Y}."


def range_sentence(
    p25: float,
    p75: float,
    *,
    bedrooms: int | None = None,
    bathrooms: float | None = None,
    has_size: bool = True,
    unit_type: str | None = None,
) -> str:
    """The expected range without a price to judge ("what should I pay?")."""
    peers = _peers(bedrooms, bathrooms, has_size, unit_type)
    return f"{peers} usually rent for {money(round_down(p25))} to {money(round_up(p75))}."


def price_change(previous: int, price: int, changed_at: datetime) -> dict[str, Any]:
    """A listing's last change of price, as the API gives it: the price before, when, by how much (a
    signed percentage of the price before) and in words ("Cut 6% on 20 Nov 2026, from $2,400.")."""
    percent = round((price - previous) / previous * 100, 1) if previous else 0.0
    whole = round(abs(percent))
    amount = f"{whole}%" if whole else money(abs(price - previous))
    verb = "Cut" if price < previous else "Raised"
    return {
        "previous_price": previous,
        "changed_at": changed_at,
        "percent": percent,
        "words": f"{verb} {amount} on {changed_at:%-d %b %Y}, from {money(previous)}.",
    }


def last_change(listing: Any) -> dict[str, Any] | None:
    """`price_change` of a listing (or a row with its price, previous_price and price_changed_at), or None
    if nook never saw its price change."""
    if listing.previous_price is None or listing.price_changed_at is None or listing.price is None:
        return None
    return price_change(listing.previous_price, listing.price, listing.price_changed_at)


# a listing's statuses once it has left the market, in words
GONE = {"delisted": "taken down", "expired": "expired"}


def since_saved(
    saved_price: int, price: int | None, status: str, last_seen_at: datetime, since: str = "you saved it"
) -> str:
    """What became of a saved listing, in words: its price against the price when it was saved (or, with
    `since`, another time: "you last heard of it"), or that it is no longer listed ("Cut $200 (8%) since
    you saved it, from $2,500.")."""
    if status in GONE:
        asking = f" asking {money(price)}" if price is not None else ""
        return f"No longer listed ({GONE[status]}): last seen {last_seen_at:%-d %b %Y}{asking}."
    if status == "rejected":
        return "No longer shown: its source's latest version of it could not be read."
    if price is None or price == saved_price:  # active, or pending: a change being read
        return f"No change of price since {since}."
    verb = "Cut" if price < saved_price else "Raised"
    percent = round(abs(price - saved_price) / saved_price * 100) if saved_price else 0
    share = f" ({percent}%)" if percent else ""
    return f"{verb} {money(abs(price - saved_price))}{share} since {since}, from {money(saved_price)}."
