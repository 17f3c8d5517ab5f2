"""Fixtures for the listings pipeline: the demo feed on a fixed clock, sources, receivers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from jobs.http import polite_session
from jobs.local.demo_feed import DemoFeed, serve
from jobs.sources.demo_market import Market
from jobs.webhook_post import WebhookPoster
from models.listing import Listing
from models.region import Region
from models.source import Source
from tests.conftest import free_port
from tests.http_servers import WebhookReceiver, scripted_server

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


# listings and regions written straight to the database, for the pipeline's own tests
SQUARE = "MULTIPOLYGON((({w} {s}, {e} {s}, {e} {n}, {w} {n}, {w} {s})))"


def add_listing(
    session,
    source,
    ref,
    price=2000,
    bedrooms=1,
    bathrooms=1,
    lat=43.65,
    lon=-79.38,
    first_seen_at=T0,
    unit_type="apartment",
    **extra,
):
    raw = {
        "source_ref": ref,
        "price": price,
        "bedrooms": bedrooms,
        "bathrooms": bathrooms,
        "latitude": lat,
        "longitude": lon,
        "unit_type": unit_type,
        **extra,
    }
    listing = Listing(
        source_id=source.id,
        source_ref=ref,
        raw=raw,
        status="pending",
        first_seen_at=first_seen_at,
        last_seen_at=T0,
    )
    session.add(listing)
    session.flush()
    return listing


def add_region(session, user, name="Area", w=-79.40, s=43.64, e=-79.36, n=43.66, **criteria):
    region = Region(
        user_id=user.id, name=name, geom=f"SRID=4326;{SQUARE.format(w=w, s=s, e=e, n=n)}", **criteria
    )
    session.add(region)
    session.flush()
    return region


def sources(session):
    a = Source(name="a", kind="json_feed", config={"url": "http://unused"})
    b = Source(name="b", kind="json_feed", config={"url": "http://unused"})
    session.add_all([a, b])
    session.flush()
    return a, b


@dataclass
class Clock:
    """A clock the test moves by hand."""

    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class RunningFeed:
    feed: DemoFeed
    clock: Clock
    base_url: str


@pytest.fixture
def demo_feed():
    """The demo market (30 listings a day) served on 127.0.0.1 at a fixed clock."""
    clock = Clock()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    feed = DemoFeed(Market(seed=5, per_day=30), clock, base_url)
    server = serve(feed, port=port)
    try:
        yield RunningFeed(feed, clock, base_url)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def demo_sources(db_session, demo_feed):
    """The main and mirror demo sources, as rows."""
    main = Source(
        name="demo-main",
        kind="demo",
        config={"base_url": demo_feed.base_url, "feed": "main", "page_size": 100},
    )
    mirror = Source(
        name="demo-mirror",
        kind="demo",
        config={"base_url": demo_feed.base_url, "feed": "mirror", "page_size": 100},
    )
    db_session.add_all([main, mirror])
    db_session.flush()
    return main, mirror


@pytest.fixture
def client():
    """A polite HTTP client with quick retries (tests hit local servers)."""
    return polite_session(retries=2, backoff=0.01)


@pytest.fixture
def poster():
    """How notify posts to webhooks, with quick retries (tests hit local servers)."""
    return WebhookPoster(backoff=0.01)


@pytest.fixture
def server():
    """A scripted HTTP server on 127.0.0.1."""
    with scripted_server() as running:
        yield running


@pytest.fixture
def private_webhooks_allowed(setting):
    """Webhooks on 127.0.0.1 (the test receiver) are allowed."""
    setting("NOOK_ALLOW_PRIVATE_WEBHOOKS", "true")


@pytest.fixture
def receiver():
    """A webhook receiver on 127.0.0.1 that can fail on demand."""
    hook = WebhookReceiver().start()
    try:
        yield hook
    finally:
        hook.stop()
