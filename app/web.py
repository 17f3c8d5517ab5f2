"""The map page at `/`: one HTML page and a script, a client of the same /v1 endpoints.

The browser libraries (Leaflet, Leaflet-Geoman) are installed from npm at build time
(`make assets`) into app/static/vendor; nothing here touches the database.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, render_template, request

from app.db import get_db
from app.errors import ApiError
from models.base import Base
from models.client_asks import client_of, count_ask
from models.listing import UNIT_TYPES
from models.settings import get_settings
from models.user import SAVED_STAGES, User

F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M", bound=Base)

bp = Blueprint("web", __name__)

CSP = (
    "default-src 'self'; img-src 'self' data: https:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def base_url() -> str:
    """Where the links nook hands out lead (in its letters, a shared shortlist's): NOOK_PUBLIC_URL, else
    where this request reached nook."""
    return get_settings().public_url or request.url_root.rstrip("/")


def link_page(html: str, status: int = 200) -> Response:
    """A page a link holding a token opens (an email's, a share's): as every page of nook's, it sends no
    referrer, so the token stays here, and no cache keeps it (a link turned off stops at once)."""
    response = html_page(html, status)
    response.headers["Cache-Control"] = "no-store"
    return response


def linked(model: type[M], name: str, for_update: bool = False) -> tuple[M | None, str]:
    """The row a link's query names (`name`: its id) and the token it holds (`t`); None for the row if it
    names none. Whether the token is the row's is the caller's to judge."""
    raw_id, token = request.args.get(name, ""), request.args.get("t", "")
    if not raw_id.isascii() or not raw_id.isdigit() or not 0 < int(raw_id) < 2**31 or not token:
        return None, token
    return get_db().get(model, int(raw_id), with_for_update=for_update), token


def linked_user() -> tuple[User | None, str]:
    """The user a link's query names (`u`, their id) and the token it holds (`t`)."""
    return linked(User, "u")


def client_address() -> str | None:
    """Where the request came from: on Lambda, what API Gateway saw (its request context's sourceIp; the
    X-Forwarded-For Zappa reads holds whatever the client wrote too), else the connection's peer."""
    event = request.environ.get("lambda.event")
    context = event.get("requestContext") if isinstance(event, dict) else None
    if isinstance(context, dict):
        for part in ("identity", "http"):  # REST API (v1), HTTP API (v2)
            seen = context.get(part)
            if isinstance(seen, dict) and seen.get("sourceIp"):
                return str(seen["sourceIp"])
    return request.remote_addr


def limit_link_asks() -> None:
    """Count an ask for a mailed link against its client; 429 with Retry-After past the
    NOOK_LINK_ASKS_AN_HOUR it may make within its hour (models.client_asks)."""
    client = client_of(client_address())
    wait = count_ask(get_db(), client, datetime.now(UTC), get_settings().link_asks_an_hour)
    if wait is not None:
        raise ApiError(
            429, "Many links were asked for from here within the hour: ask again later.", retry_after=wait
        )


# an ask that mails a link to whoever has an address (a lost key's, a sign-up's) is answered this long
# after it came at the earliest: handing a letter to SES takes a few hundred ms, an address without an
# account (or asked for a moment ago) none, so without it the time of the answer would say what the answer
# does not (an SES slower than this still shows)
EVEN_ANSWER_SECONDS = 1.0


def evenly_timed(view: F) -> F:
    """Answer the view's asks EVEN_ANSWER_SECONDS after they came at the earliest; its transaction is
    committed first, so its rows are not held while the answer waits. A refusal (raised) goes at once."""

    @functools.wraps(view)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        answer = view(*args, **kwargs)
        get_db().commit()
        time.sleep(max(0.0, EVEN_ANSWER_SECONDS - (time.monotonic() - started)))
        return answer

    return timed  # type: ignore[return-value]


def html_page(html: str, status: int = 200) -> Response:
    """An HTML page of nook's, with its security headers (this page's script and styles only, not
    framed, no referrer)."""
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/")
def index() -> Response:
    """The map page."""
    lat, lon = (float(x) for x in current_app.config["MAP_CENTER"].split(","))
    html = render_template(
        "index.html",
        tile_url=current_app.config["TILE_URL"],
        tile_attribution=current_app.config["TILE_ATTRIBUTION"],
        center=[lat, lon],
        alert_poll_seconds=current_app.config["ALERT_POLL_SECONDS"],
        unit_types=UNIT_TYPES,
        stages=list(SAVED_STAGES.items()),
        sign_up=get_settings().signing_up,
    )
    return html_page(html)
