"""The simulated market: deterministic, realistic, with duplicates and broken records."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta

from jobs.local.demo_feed import DemoFeed
from jobs.sources.demo_market import DEMO_FIELDS, FEATURES, Market, feed_record, mirror_record
from models.normalize import Rejected, clean_listing

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def test_same_seed_and_clock_same_feed():
    one = DemoFeed(Market(seed=3, per_day=200), lambda: NOW, "http://x").page("main", {"limit": "1000"})
    two = DemoFeed(Market(seed=3, per_day=200), lambda: NOW, "http://x").page("main", {"limit": "1000"})
    other = DemoFeed(Market(seed=4, per_day=200), lambda: NOW, "http://x").page("main", {"limit": "1000"})
    assert one == two and one != other


def test_prices_follow_size_type_and_location():
    items = [i for i in Market(seed=1, per_day=800).active(NOW) if not i.broken]
    by_beds = {
        b: statistics.median(i.price for i in items if i.bedrooms == b and i.unit_type == "apartment")
        for b in (0, 1, 2, 3)
    }
    assert by_beds[0] < by_beds[1] < by_beds[2] < by_beds[3]
    one_bed = [i for i in items if i.bedrooms == 1 and i.unit_type in ("apartment", "condo")]
    downtown = statistics.median(i.price for i in one_bed if i.neighbourhood == "Downtown Core")
    suburb = statistics.median(i.price for i in one_bed if i.neighbourhood == "Scarborough")
    assert downtown > 1.3 * suburb
    basement = statistics.median(i.price for i in items if i.unit_type == "basement" and i.bedrooms == 1)
    assert basement < statistics.median(i.price for i in one_bed)
    # heteroscedastic: the spread of log-rents grows with size
    import math

    spread = {
        b: statistics.pstdev(
            math.log(i.price) for i in items if i.bedrooms == b and i.unit_type == "apartment"
        )
        for b in (0, 3)
    }
    assert spread[3] > spread[0]


def test_listings_come_and_go():
    market = Market(seed=1, per_day=100)
    before, after = (
        {i.index for i in market.active(NOW)},
        {i.index for i in market.active(NOW + timedelta(days=5))},
    )
    assert before - after and after - before


def test_broken_records_and_reposts():
    market = Market(seed=2, per_day=700)
    items = market.active(NOW)
    refused = 0
    for item in items:
        try:
            clean_listing(feed_record(item, NOW, "http://x"), {"fields": DEMO_FIELDS})
        except Rejected:
            refused += 1
    assert 0.01 < refused / len(items) < 0.03
    mirrored = [(item, m) for item in items if (m := mirror_record(item, NOW, "http://x"))]
    assert 0.05 < len(mirrored) / len(items) < 0.12
    for item, record in mirrored[:50]:
        assert record["beds"] == item.bedrooms and abs(record["lat"] - item.latitude) < 0.0001
        assert abs(record["rent"] - item.price_at(NOW)) <= 0.011 * item.price_at(NOW)


def test_titles_say_what_a_flat_has_and_a_repost_says_the_same():
    market = Market(seed=2, per_day=700)
    items = market.active(NOW)[:400]
    titles = [feed_record(item, NOW, "http://x")["headline"] for item in items if not item.broken]
    boasts = Counter(feature for title in titles for feature in FEATURES if feature in title)
    assert set(boasts) == set(FEATURES)  # each of them, so a search by words finds some of each
    plain = sum(" with " not in title for title in titles)
    assert 0.25 < plain / len(titles) < 0.45
    for item in items:
        if mirror := mirror_record(item, NOW, "http://x"):
            assert mirror["headline"] == feed_record(item, NOW, "http://x")["headline"] + " (reposted)"
