"""Saved listings at scale: the notify run's searches for saved flats with news and viewings to remind,
one user's batch of each, and GET /v1/me/saved for a user with the most saved listings, in a scratch
database.

`python -m bench.saved [--listings 100000] [--users 2000] [--saved 100] [--gone 200000]`: every user
saves `--saved` listings (one saves 500, the most kept); 2% of the saved flats have news (half a cut, half
gone) and some saved listings were later found to be copies; 5% of the saved flats have a viewing booked;
`--gone` listings went months ago (what a nook that has run a while keeps: the searches must not read them).
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime

from bench.db import scratch_database
from bench.results import table, write_section


def load(listings: int, users: int, saved: int, gone: int = 0) -> tuple[int, str]:
    """Listings (and `gone` more that went long ago), users with webhooks and their saved listings; return
    the heaviest user's id and key."""
    from sqlalchemy import text

    from bench.price_rank import load_listings
    from models.session import session_scope
    from models.user import create_user

    load_listings(listings)
    with session_scope() as session:
        heavy, key = create_user(session, "heavy@example.com")
        session.execute(
            text("""INSERT INTO users (email, api_key_hash, api_key_prefix, webhook_url)
                    SELECT 'saver' || u || '@example.com', md5(u::text) || md5(u::text || 'k'), 'nook_bench',
                           'https://hooks.example.com/' || u
                    FROM generate_series(1, :users) u"""),
            {"users": users - 1},
        )
        session.execute(
            text("UPDATE users SET webhook_url = 'https://hooks.example.com/heavy' WHERE id = :u"),
            {"u": heavy.id},
        )
        # each user saves `saved` listings spread over the market (the heavy one 500), at their price then
        session.execute(
            text("""INSERT INTO saved_listings (user_id, listing_id, price, told_price, saved_at)
                    SELECT u.id, l.id, l.price, l.price, now() - (n || ' minutes')::interval
                    FROM users u
                    CROSS JOIN LATERAL generate_series(1, CASE WHEN u.id = :heavy THEN 500 ELSE :saved END) n
                    JOIN LATERAL (SELECT id, price FROM listings
                                  WHERE id = 1 + ((u.id * 7919 + n * 104729) % :listings)) l ON true
                    ON CONFLICT DO NOTHING"""),
            {"heavy": heavy.id, "saved": saved, "listings": listings},
        )
        # news: 1% of the saved flats cut by 5%, 1% gone; 1% of the listings found to be copies
        session.execute(text("UPDATE listings SET price = price * 0.95 WHERE id % 100 = 1"))
        session.execute(text("UPDATE listings SET status = 'delisted' WHERE id % 100 = 2"))
        session.execute(text("UPDATE listings SET canonical_id = id + 1 WHERE id % 100 = 3"))
        # viewings: 5% of the saved flats booked over the next ten days (some in the saver's quiet hours)
        session.execute(
            text("""UPDATE saved_listings SET stage = 'viewing', viewing_time_zone = 'America/Toronto',
                           viewing_at = now() + ((listing_id * 37 + user_id) % 14400 || ' minutes')::interval
                    WHERE (listing_id + user_id) % 20 = 0"""),
        )
        session.execute(
            text(
                "UPDATE users SET quiet_from = 22, quiet_until = 7, quiet_time_zone = 'America/Toronto'"
                " WHERE id % 2 = 0"
            )
        )
        # listings that went months ago, copies of the shown ones elsewhere in the source
        session.execute(
            text("""INSERT INTO listings (source_id, source_ref, raw, status, title, price, bedrooms,
                                          bathrooms, geom, posted_at, first_seen_at, last_seen_at, gone_at)
                    SELECT l.source_id, 'old-' || n, '{}'::jsonb, 'expired', l.title, l.price, l.bedrooms,
                           l.bathrooms, l.geom, now() - interval '120 days', now() - interval '120 days',
                           went, went
                    FROM generate_series(1, :gone) n
                    CROSS JOIN LATERAL (SELECT now() - (60 + n % 60 || ' days')::interval AS went) w
                    JOIN listings l ON l.id = 1 + n % :listings"""),
            {"gone": gone, "listings": listings},
        )
        session.execute(text("ANALYZE"))
    return heavy.id, key


def timed(function, rounds: int) -> tuple[float, float]:
    """Median and worst milliseconds of `rounds` calls."""
    laps = []
    for _ in range(rounds):
        started = time.perf_counter()
        function()
        laps.append((time.perf_counter() - started) * 1000)
    return statistics.median(laps), max(laps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--listings", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--saved", type=int, default=100)
    parser.add_argument("--gone", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    scratch_database("nook_bench_saved")
    started = time.perf_counter()
    heavy_id, key = load(args.listings, args.users, args.saved, args.gone)
    print(f"loaded in {time.perf_counter() - started:.0f} s", flush=True)

    from sqlalchemy import func, select

    from app import create_app
    from jobs import notify
    from jobs.viewings import lock_viewings, users_with_viewings
    from models.session import session_scope
    from models.user import SavedListing

    now, channels = datetime.now(UTC), notify.Channels()
    with session_scope() as session:
        rows = session.scalar(select(func.count()).select_from(SavedListing))
        with_news = len(notify.users_with_saved_news(session, now, channels))
        due = session.execute(notify.saved_news_due(heavy_id, now)).all()
        booked = session.scalar(select(func.count()).where(SavedListing.viewing_at.is_not(None)))
        reminding = len(users_with_viewings(session, now, channels.reachable()))

    def scan() -> None:
        with session_scope() as session:
            notify.users_with_saved_news(session, now, channels)

    def batch() -> None:  # the saved news a message takes for the heaviest user, locked, rolled back
        with session_scope() as session:
            notify.lock_saved_news(session, heavy_id, now)
            session.rollback()

    client = create_app().test_client()
    headers = {"Authorization": f"Bearer {key}"}

    def viewing_scan() -> None:
        with session_scope() as session:
            users_with_viewings(session, now, channels.reachable())

    def viewing_batch() -> None:  # the reminders a message takes for the heaviest user, locked, rolled back
        with session_scope() as session:
            lock_viewings(session, heavy_id, now)
            session.rollback()

    def page() -> None:
        response = client.get("/v1/me/saved", query_string={"limit": 100}, headers=headers)
        assert response.status_code == 200 and len(response.json["items"]) == 100

    functions = (scan, batch, viewing_scan, viewing_batch, page)
    for function in functions:
        function()  # warm
    figures = [
        {"what": "users with saved news (the notify run's search)", "p50 ms": 0.0, "max ms": 0.0},
        {"what": "one user's news batch, read and locked (500 saved)", "p50 ms": 0.0, "max ms": 0.0},
        {"what": "users with a viewing to remind (the notify run's search)", "p50 ms": 0.0, "max ms": 0.0},
        {"what": "one user's reminders, read and locked (500 saved)", "p50 ms": 0.0, "max ms": 0.0},
        {"what": "GET /v1/me/saved?limit=100 (500 saved)", "p50 ms": 0.0, "max ms": 0.0},
    ]
    for row, function in zip(figures, functions, strict=True):
        median, worst = timed(function, args.rounds)
        row["p50 ms"], row["max ms"] = f"{median:.1f}", f"{worst:.1f}"
        print(row, flush=True)
    body = (
        f"`python -m bench.saved --listings {args.listings} --users {args.users} --saved {args.saved} "
        f"--gone {args.gone}` — {args.listings:,} listings and {args.gone:,} more that went two to four "
        f"months ago, {args.users:,} users with webhooks, {rows:,} saved listings (one user "
        f"500); {with_news:,} users have news due (1% of the listings cut by 5%, 1% taken down, 1% found to "
        f"be copies), the heaviest {len(due)} items; {booked:,} viewings booked over the next ten days "
        f"(half the users with quiet hours), {reminding:,} users with one to remind. {args.rounds} rounds "
        "each, after one to warm.\n\n" + table(figures)
    )
    write_section("saved", body)


if __name__ == "__main__":
    main()
