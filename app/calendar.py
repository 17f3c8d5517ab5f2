"""/calendar/<token>.ics: a user's viewings as a calendar feed, for the calendar app they subscribed
with (it sends no key). A token that publishes nothing (never, or no longer) is a 404.

The feed holds the viewings booked of the user's saved flats from a month ago on, but those of flats
ruled out, soonest first: a viewing moved or cleared moves or leaves the calendar at the app's next ask.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Blueprint, Response

from app.db import get_db
from app.saved import calendar_response, viewing_event, viewings_query
from models.calendar import calendar
from models.saved import viewings_publisher
from models.user import SavedListing

bp = Blueprint("calendar", __name__)

KEPT_FOR = timedelta(days=31)  # viewings past this long ago leave the feed


@bp.get("/calendar/<token>.ics")
def viewings(token: str) -> Response:
    """The viewings the token publishes, as an iCalendar feed."""
    user = viewings_publisher(get_db(), token)
    if user is None:
        return Response("No calendar is published at this link.\n", status=404, mimetype="text/plain")
    query = (
        viewings_query(user.id)
        .where(
            SavedListing.viewing_at >= datetime.now(UTC) - KEPT_FOR,
            SavedListing.stage.is_distinct_from("ruled_out"),
        )
        .order_by(SavedListing.viewing_at, SavedListing.listing_id)
    )
    events = [viewing_event(row, user.id) for row in get_db().execute(query)]
    response = calendar_response(calendar(events, name="nook viewings"), "nook-viewings.ics")
    response.headers["X-Robots-Tag"] = "noindex"
    return response
