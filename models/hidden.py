"""Hidden listings: the flats a user is not interested in, left out of what nook shows and sends them.

A user hides a flat (the listing shown: a copy hides the flat it copies). A hidden listing later found
to copy another hides that one: the flat it stands for. The rule is written here twice, as SQL: for the
listing API, similar listings and the alert list (`not_hidden`: one user, many listings), and for the
alerts' sendability (`hidden_sql`: models.matching, an alert of a flat its user hid is withdrawn, never
sent; each alert its own user). tests/models/test_hidden.py holds both to the same answers.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, all_, literal, select, text, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, aliased

MAX_HIDDEN = 5000

# whether {user} hid the shown listing {listing}: that listing, or a listing found to copy it; for one
# user's alerts (models.matching), each checked through two index probes
_HIDDEN = """(EXISTS (SELECT 1 FROM hidden_listings h WHERE h.user_id = {user} AND h.listing_id = {listing})
  OR EXISTS (
      SELECT 1 FROM listings hc JOIN hidden_listings h ON h.listing_id = hc.id
      WHERE hc.canonical_id = {listing} AND h.user_id = {user}
  ))"""
# the same for one user's searches, which check many listings: the flats the user hid (each hidden
# listing, or the one it was found to copy), read first and given as a list of constants, which
# PostgreSQL (15) looks each listing up in by hash. Two probes a listing cost a bbox search of a user
# with none hidden a quarter of its time, and its p99 went from 27 to ~100 ms; the list read in the same
# statement (a hashed subplan) led the planner to scan every listing for a region's page (bench.api)
HIDDEN_FLATS = text("""
SELECT coalesce(hl.canonical_id, hl.id) FROM hidden_listings h JOIN listings hl ON hl.id = h.listing_id
WHERE h.user_id = :user_id LIMIT :most
""")
# ... up to this many: reading each costs an index probe of listings (~5 us here), and a user who hid
# 1,000 flats waited 3-6.5 ms for the list before every search (5,000, the most: ~30 ms). Past it, the
# search asks of each listing it walks whether the user hid it (`hidden_sql`'s two probes, a few us a
# listing): the searches of those who hid little stay as fast as those of users who hid nothing.
MAX_LISTED = 100


@functools.cache
def _tables() -> tuple[Any, Any, Any, Any]:
    """The listings and the hidings, and aliases of them for a listing found to copy the one asked of and
    the user's hiding of it (made once: an alias is not cheap). Loaded with the first search, not with
    this module: hidden_sql's stage (the stream's matching) loads no table (models/__init__.py)."""
    from models.listing import Listing
    from models.user import HiddenListing

    return (
        Listing,
        HiddenListing,
        aliased(Listing, name="hidden_copy"),
        aliased(HiddenListing, name="hidden_through"),
    )


def hidden_sql(user: str, listing: str) -> str:
    """The condition as SQL text, for the SQL expressions `user` (a user's id) and `listing` (a shown
    listing's id)."""
    return _HIDDEN.format(user=user, listing=listing)


def not_hidden(
    session: Session, user_id: int, listing_id: ColumnElement[int] | None = None
) -> ColumnElement[bool]:
    """A condition on a shown listing (active, no copy) whose id is `listing_id` (`Listing.id` unless
    given): the listing is not one the user hid. A region's search gives its membership's listing_id, so
    that PostgreSQL asks it of each membership before reading the listing (a condition on Listing.id
    waits for the listing: a region whose 1,000 newest its user hid read 1,021 listings for a page)."""
    Listing, HiddenListing, _COPY, _THROUGH = _tables()
    listing = Listing.id if listing_id is None else listing_id
    flats = list(session.scalars(HIDDEN_FLATS, {"user_id": user_id, "most": MAX_LISTED + 1}))
    if len(flats) > MAX_LISTED:
        hid = select(HiddenListing.listing_id).where(
            HiddenListing.user_id == user_id, HiddenListing.listing_id == listing
        )
        hid_a_copy = (
            select(_COPY.id)
            .join(_THROUGH, _THROUGH.listing_id == _COPY.id)
            .where(_COPY.canonical_id == listing, _THROUGH.user_id == user_id)
        )
        return ~hid.exists() & ~hid_a_copy.exists()
    return listing != all_(literal(flats, ARRAY(BigInteger))) if flats else true()
