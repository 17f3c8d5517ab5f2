"""`make demo`: nook end to end on one machine.

Starts the local services, migrates, seeds the demo user, fires every
scheduled job once, then serves the API on http://127.0.0.1:5000 while the
local scheduler keeps the jobs going. Ctrl-C stops the API and scheduler;
`make services-down` stops the database and moto.
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from jobs.local.stream_io import partition_key

DEMO_EMAIL = "demo@nook.local"
HOST, PORT = "127.0.0.1", int(os.environ.get("NOOK_DEMO_PORT", "5000"))
FEED_PORT = int(os.environ.get("NOOK_DEMO_FEED_PORT", "54331"))
RECEIVER_PORT = int(os.environ.get("NOOK_DEMO_RECEIVER_PORT", "54332"))
DEMO_SEED, DEMO_PER_DAY = 7, 600
HISTORY_DAYS = 150  # backfilled so the market forecast has history on a fresh machine
STREAM_SOURCE = "demo-stream"
TRICKLE_SECONDS = float(os.environ.get("NOOK_DEMO_TRICKLE_SECONDS", "20"))
# The demo user's area: Leslieville and Riverdale, for 1+ bedrooms up to $3,200.
DEMO_REGION = (
    "SRID=4326;MULTIPOLYGON(((-79.3560 43.6560, -79.3060 43.6560, -79.3060 43.6830, "
    "-79.3560 43.6830, -79.3560 43.6560)))"
)


def demo_api_key(local_dir: Path) -> str:
    """The demo user's key: generated once, kept (0600) under .local/."""
    from models.user import new_api_key

    path = local_dir / "demo_api_key"
    if path.exists():
        return path.read_text().strip()
    key = new_api_key()
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


def seed_demo_user(key: str, webhook_url: str) -> int:
    """Create the demo user (key, webhook, one region), or bring it up to date; return its id."""
    from models.region import Region
    from models.session import session_scope
    from models.user import User, create_user, hash_api_key

    with session_scope() as session:
        user = session.scalar(select(User).where(User.email == DEMO_EMAIL))
        if user is None:
            user, _ = create_user(session, DEMO_EMAIL, api_key=key)
        user.api_key_hash, user.api_key_prefix = hash_api_key(key), key[:12]
        user.webhook_url = webhook_url
        if not session.scalar(select(Region.id).where(Region.user_id == user.id)):
            session.add(
                Region(
                    user_id=user.id,
                    name="Leslieville & Riverdale",
                    geom=DEMO_REGION,
                    min_bedrooms=1,
                    max_price=3200,
                )
            )
        session.flush()
        return user.id


def seed_demo_sources(base_url: str) -> None:
    """The demo market's two feeds as sources (idempotent)."""
    from models.session import session_scope
    from models.source import Source

    with session_scope() as session:
        # Daily bounds for the new-listings check (seed 003: at least 300 a day from the main source).
        for name, feed, daily in (("demo-main", "main", 300), ("demo-mirror", "mirror", 20)):
            source = session.scalar(select(Source).where(Source.name == name))
            config = {
                "base_url": base_url,
                "feed": feed,
                "page_size": 500,
                "checks": {"min_daily": daily, "max_gap_hours": 2},
            }
            if source is None:
                session.add(Source(name=name, kind="demo", config=config))
            else:
                source.config = config


def backfill_history(days: int = HISTORY_DAYS) -> str:
    """The demo market's past `days` days (listings already gone), unless already there."""
    from datetime import UTC, datetime, timedelta

    from jobs.local.demo_history import backfill
    from jobs.sources.demo_market import Market
    from models.listing import Listing
    from models.session import session_scope
    from models.source import Source

    now = datetime.now(UTC)
    with session_scope() as session:
        oldest = session.scalar(
            select(Listing.posted_at)
            .join(Source, Source.id == Listing.source_id)
            .where(Source.name == "demo-main", Listing.posted_at < now - timedelta(days=days - 7))
            .limit(1)
        )
        if oldest is not None:
            return f"history: already backfilled ({days} days)"
        done = backfill(session, Market(DEMO_SEED, DEMO_PER_DAY), now, days, f"http://127.0.0.1:{FEED_PORT}")
    return (
        f"history: {done.main:,} listings and {done.mirror:,} re-posts of the last {days} days backfilled"
        f" ({done.still_active:,} still on the market are left to ingest, {done.broken:,} broken)"
    )


def start_demo_feed() -> str:
    """Serve the simulated market on 127.0.0.1; return its base URL."""
    from datetime import UTC, datetime

    from jobs.local.demo_feed import DemoFeed, serve
    from jobs.sources.demo_market import Market

    base_url = f"http://127.0.0.1:{FEED_PORT}"
    serve(DemoFeed(Market(DEMO_SEED, DEMO_PER_DAY), lambda: datetime.now(UTC), base_url), port=FEED_PORT)
    return base_url


def seed_stream_source() -> None:
    """The partner that pushes listings onto Kinesis in the demo (idempotent)."""
    from models.session import session_scope
    from models.source import Source

    with session_scope() as session:
        if not session.scalar(select(Source.id).where(Source.name == STREAM_SOURCE)):
            session.add(Source(name=STREAM_SOURCE, kind="stream", config={"checks": {"max_gap_hours": 1}}))


class Partner:
    """The demo's partner: mostly new listings, now and then a corrupt record, the removal of a listing it
    sent before (rented: {"status": "delisted"}), or one of them sent again with its price cut."""

    def __init__(self, rng: random.Random, removal_share: float = 0.2, cut_share: float = 0.1) -> None:
        self.rng, self.removal_share, self.cut_share = rng, removal_share, cut_share
        self.listed: dict[int, dict] = {}  # index -> the listing as last sent

    def next_event(self) -> tuple[bytes, str]:
        """The next record's data and partition key (the listing's, so its events stay in order)."""
        roll = self.rng.random()
        if self.listed and roll < self.removal_share:
            index = self.rng.choice(list(self.listed))
            del self.listed[index]
            data = json.dumps({"source": STREAM_SOURCE, "source_ref": f"S-{index}", "status": "delisted"})
            return data.encode(), partition_key(data.encode())
        if self.listed and roll < self.removal_share + self.cut_share:
            listing = self.listed[self.rng.choice(list(self.listed))]
            # 4-10% off, down to a round $25: a landlord lowering the rent
            listing["price"] = int(listing["price"] * self.rng.uniform(0.90, 0.96) // 25 * 25)
            data = json.dumps(listing).encode()
            return data, partition_key(data)
        if self.rng.random() < 0.05:
            data = b"\x00\x01 corrupt partner record"
            return data, partition_key(data)
        index = self.rng.randrange(1_000_000, 2_000_000)
        listing = partner_listing(index)
        self.listed[index] = listing
        data = json.dumps(listing).encode()
        return data, partition_key(data)


def partner_listing(index: int) -> dict:
    """A partner's listing event from the simulated market."""
    from jobs.sources.demo_market import TYPE_LABELS, Market

    item = Market(DEMO_SEED, DEMO_PER_DAY).listing(index)
    return {
        "source": STREAM_SOURCE,
        "source_ref": f"S-{index}",
        "title": f"{TYPE_LABELS[item.unit_type]} near {item.neighbourhood} (partner)",
        "price": item.price,
        "bedrooms": item.bedrooms,
        "bathrooms": item.bathrooms,
        "sqft": item.sqft if item.show_sqft else None,
        "furnished": item.furnished,
        "unit_type": item.unit_type,
        "latitude": item.latitude,
        "longitude": item.longitude,
        # from now: the partner's listing numbers lie years ahead in the market's own calendar
        "available_from": item.available(posted=datetime.now(UTC)),
    }


def _start_stream(stop: threading.Event) -> None:
    """The local poller (Lambda's part) and a partner trickling events onto listing_events."""
    import boto3

    from jobs.local.stream_poller import local_poller
    from models.settings import get_settings

    poller = local_poller(boto3.client("kinesis"))
    threading.Thread(target=poller.run, args=(stop,), name="stream-poller", daemon=True).start()

    def trickle() -> None:
        client, partner = boto3.client("kinesis"), Partner(random.Random())
        while not stop.wait(TRICKLE_SECONDS):
            data, key = partner.next_event()
            client.put_record(StreamName=get_settings().listing_events_stream, Data=data, PartitionKey=key)

    threading.Thread(target=trickle, name="stream-trickle", daemon=True).start()


def _start_scheduler(stop: threading.Event) -> threading.Thread:
    from jobs.cli import _report_fired
    from jobs.local import scheduler

    jobs = scheduler.scheduled_jobs()

    def loop() -> None:
        scheduler.run_once(jobs, _report_fired)
        scheduler.run_forever(jobs, stop, _report_fired)

    thread = threading.Thread(target=loop, name="scheduler", daemon=True)
    thread.start()
    return thread


def main() -> int:
    """Bring everything up and serve until interrupted."""
    from jobs.local import services

    print("nook demo: starting local services ...", flush=True)
    try:
        for name, state in services.up().items():
            print(f"  {name:10} {state}")
    except services.ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    os.environ.update(services.local_environment())
    os.environ.setdefault("NOOK_STAGE", "local")
    os.environ.setdefault("NOOK_ALLOW_PRIVATE_WEBHOOKS", "true")  # the receiver listens on 127.0.0.1
    os.environ.setdefault("NOOK_ALLOW_PRIVATE_PAGES", "true")  # and so does the market's listing pages

    from jobs.local import webhook_receiver
    from models import migrate

    migrate.upgrade()
    feed_url = start_demo_feed()
    webhook_receiver.serve(RECEIVER_PORT)
    seed_demo_sources(feed_url)
    seed_stream_source()
    print(backfill_history(), flush=True)
    key = demo_api_key(services.LOCAL_DIR)
    user_id = seed_demo_user(key, f"http://127.0.0.1:{RECEIVER_PORT}/hook")

    from werkzeug.serving import make_server

    from jobs.cli import create_app

    server = make_server(HOST, PORT, create_app(), threaded=True)
    stop = threading.Event()
    _start_scheduler(stop)
    _start_stream(stop)
    base = f"http://{HOST}:{PORT}"
    auth = f'-H "Authorization: Bearer {key}"'
    search = f'curl -s {auth} "{base}/v1/listings?bbox=-79.40,43.64,-79.33,43.68&sort=value&limit=5"'
    body = '{"bedrooms": 1, "sqft": 600, "latitude": 43.665, "longitude": -79.35, "price": 2300}'
    estimate = f"curl -s {auth} -H 'Content-Type: application/json' -d '{body}' {base}/v1/estimates"
    print(
        f"""
nook is running.
  map page     {base}/   (sign in with the demo user's API key below, or make an account of your own:
               "New to nook?", and the link is in  eval "$(make -s env)" && .venv/bin/flask mail outbox)
  API          {base}/v1   (health: {base}/health, docs: {base}/openapi.json)
  demo user    {DEMO_EMAIL} (id {user_id}), API key: {key}
  try          curl -s {base}/health
  search       {search}
  estimate     {estimate}
  demo feed    {feed_url}/feeds/main/listings?limit=5   (the simulated market ingest pulls)
  alerts       http://127.0.0.1:{RECEIVER_PORT}/   (webhook messages for the demo user's region)
  saved        curl -s -X PUT {auth} {base}/v1/me/saved/LISTING_ID   (or "Save listing" on the map page;
               a saved flat's price cut, or its going, comes to the webhook too)
  viewing      book one of a saved flat (reminded 3 hours before, on the webhook):
               curl -s -X PATCH {auth} -H 'Content-Type: application/json' {base}/v1/me/saved/LISTING_ID \\
                 -d '{{"viewing": {{"at": "YYYY-MM-DDT18:00", "time_zone": "America/Toronto"}}}}'
  email        alerts by email instead: tick "Email me my alerts" on the map page (or
               curl -s -X PUT {auth} {base}/v1/me/email-alerts); moto's SES keeps them:
               eval "$(make -s env)" && .venv/bin/flask mail outbox
  data checks  HTML reports in {services.LOCAL_DIR}/reports/ (the checks run once now, then daily)
  stream       a partner pushes a listing (or takes one down) every {TRICKLE_SECONDS:.0f}s; watch the
               scores with  eval "$(make -s env)" && .venv/bin/flask stream tail --follow
  refused      records the feeds or the partner sent that nook quarantined, and why:
               eval "$(make -s env)" && .venv/bin/flask quarantine list
  database     {os.environ["DATABASE_URL"]}
  AWS (moto)   {os.environ["AWS_ENDPOINT_URL"]}
  logs         JSON lines below; service logs in {services.LOCAL_DIR}/
Stop with Ctrl-C (API and scheduler); `make services-down` stops PostgreSQL and moto.
""",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nstopping ...")
    finally:
        stop.set()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
