"""/shortlist/<token>: a user's saved listings, read-only, for whoever they gave the link to.

A user shares their shortlist (`PUT /v1/me/saved/share`, models.saved.share) and hands the link to a
partner or a flatmate, who needs no account: the page shows each flat as it is now (its price, what
became of it since it was saved, how its price compares, the ad), and the user's notes, where they are
with each flat (when a viewing is) and their stars for it if they chose so. It names nobody. A token
that shares nothing (never, or no longer) is a 404.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template

from app.db import get_db
from app.saved import saved_query
from app.web import link_page
from models.explain import available_words, explain_listing, listing_facts, since_saved
from models.normalize import is_http_address
from models.saved import sharer
from models.user import SAVED_STAGES, SavedListing

bp = Blueprint("shortlist", __name__)


def _flat(row: Any, notes: bool) -> dict[str, Any]:
    listed = row.status in ("active", "pending")
    judged = listed and row.rank_label is not None and row.price is not None
    facts = listing_facts(row, kind=True)
    return {
        "title": row.title or facts,
        "price": row.price,
        "facts": facts,
        "listed": listed,
        "since": since_saved(row.saved_price, row.price, row.status, row.last_seen_at),
        "rank": explain_listing(row, row.p25, row.p75, row.rank_label) if judged else None,
        "available": available_words(row.available_from) if listed else None,
        "url": row.url if row.url and is_http_address(row.url) else None,  # as read; never another scheme
        "note": row.note if notes else None,
        "stage": _stage(row) if notes and row.stage else None,
        "rating": row.rating if notes else None,
    }


def _stage(row: Any) -> str:
    """Where the saver is with the flat, with when the viewing booked is (on the clock it was booked on)."""
    if row.stage != "viewing" or row.viewing_at is None:
        return SAVED_STAGES[row.stage]
    local = row.viewing_local
    when = f"{local:%a} {local.day} {local:%b}, {local:%H:%M}"
    return f"{SAVED_STAGES['viewing']}: {when} ({row.viewing_time_zone} time)"


@bp.get("/shortlist/<token>")
def shortlist(token: str) -> Response:
    """The shared saved listings, last saved first."""
    user = sharer(get_db(), token)
    if user is None:
        html, status = render_template("shortlist.html", flats=None), 404
    else:
        rows = get_db().execute(
            saved_query(user.id).order_by(SavedListing.saved_at.desc(), SavedListing.listing_id.desc())
        )
        html, status = (
            render_template("shortlist.html", flats=[_flat(r, user.shortlist_notes) for r in rows]),
            200,
        )
    response = link_page(html, status)
    response.headers["X-Robots-Tag"] = "noindex"
    return response
