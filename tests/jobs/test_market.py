"""Market activity and forecast: series building, re-post rule, idempotent upsert, forecasts, backtest."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select, text

from jobs import market
from models.market import BED_BUCKETS, MarketPoint, series_key
from models.region import Region
from models.source import Source
from models.user import create_user
from tests.factories import insert_arrivals, insert_listing, weekly_counts

NOW = datetime(2026, 11, 23, 6, tzinfo=UTC)  # a Monday
TODAY = NOW.date()
LON, LAT = -79.35, 43.66
SQUARE = (
    "SRID=4326;MULTIPOLYGON(((-79.351 43.659, -79.33 43.659, -79.33 43.67, -79.351 43.67, -79.351 43.659)))"
)
ELSEWHERE = "SRID=4326;MULTIPOLYGON(((-79.5 43.7, -79.49 43.7, -79.49 43.71, -79.5 43.71, -79.5 43.7)))"


def frame(rows: list[tuple[date, int, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["day", "beds", "price"])


def test_days_without_listings_are_zeros_and_buckets_add_up():
    start = date(2026, 11, 1)
    rows = frame(
        [
            (date(2026, 11, 2), 1, 2000),
            (date(2026, 11, 2), 1, 2200),
            (date(2026, 11, 2), 5, 4000),  # 5 bedrooms counts as 4+
            (date(2026, 11, 4), 0, 1500),
            (date(2026, 10, 20), 2, 2600),  # before the window: in the trailing price, not in counts
            (date(2026, 11, 9), 2, 2600),  # on the end day (exclusive): nowhere
        ]
    )
    series = market.build_series(rows, start, date(2026, 11, 6))
    assert list(series.counts.index) == [date(2026, 11, d) for d in range(1, 6)]
    assert list(series.counts["all"]) == [0, 3, 0, 1, 0]
    assert list(series.counts["1"]) == [0, 2, 0, 0, 0]
    assert list(series.counts["4+"]) == [0, 1, 0, 0, 0]
    assert list(series.counts["3"]) == [0, 0, 0, 0, 0]
    assert series.counts.dtypes.unique().tolist() == [np.dtype("int64")]
    assert series.price.loc[date(2026, 11, 1), "all"] == 2600  # only the October listing so far
    assert series.price.loc[date(2026, 11, 2), "1"] == 2100
    assert series.price.loc[date(2026, 11, 5), "all"] == 2200  # median of 2600, 2000, 2200, 4000, 1500
    assert np.isnan(series.price.loc[date(2026, 11, 1), "1"])


def test_the_trailing_price_forgets_listings_after_28_days():
    rows = frame([(date(2026, 10, 1), 1, 2000)])
    series = market.build_series(rows, date(2026, 10, 1), date(2026, 11, 1))
    assert series.price.loc[date(2026, 10, 28), "1"] == 2000
    assert np.isnan(series.price.loc[date(2026, 10, 29), "1"])


def test_each_days_price_is_the_median_of_its_28_day_window_in_each_bucket():
    """The windows found by binary search over the listings in day order, against a scan of every
    listing for every day (what build_series did, 80 ms an area), on 2,000 random listings."""
    rng = np.random.default_rng(8)
    start, end = date(2026, 8, 1), date(2026, 11, 29)
    rows = frame(
        [
            (start + timedelta(days=int(d)), int(b), int(p))
            for d, b, p in zip(
                rng.integers(-40, 125, 2000),
                rng.integers(0, 7, 2000),
                rng.integers(800, 5000, 2000),
                strict=True,
            )
        ]
    )
    series = market.build_series(rows, start, end)
    bucket = rows["beds"].map(lambda b: "4+" if b >= 4 else str(b))
    for day in series.price.index:
        window = rows[(rows["day"] > day - timedelta(days=market.PRICE_WINDOW)) & (rows["day"] <= day)]
        for beds in BED_BUCKETS:
            chosen = window if beds == "all" else window[bucket[window.index] == beds]
            expected = float(np.median(chosen["price"])) if len(chosen) else np.nan
            assert series.price.loc[day, beds] == pytest.approx(expected, nan_ok=True), (day, beds)
    for beds in BED_BUCKETS:
        chosen = window if beds == "all" else window[bucket[window.index] == beds]
        assert sorted(series.recent[beds]) == sorted(chosen["price"])  # the last day's window


@pytest.fixture
def source(db_session) -> Source:
    src = Source(name="market-test", kind="json_feed", config={"url": "http://unused"})
    db_session.add(src)
    db_session.flush()
    return src


def new_ids(session, start: date, end: date) -> set[int]:
    """Ids counted as new in [start, end) (the table also holds the 28 days before, for prices)."""
    market.load_new_listings(session, start, end)
    return set(session.scalars(text("SELECT id FROM market_new WHERE day >= :start"), {"start": start}))


def test_duplicates_and_delisted_reposts_are_not_new(db_session, source):
    day = datetime(2026, 11, 2, 10, tzinfo=UTC)

    def add(ref: str, when: datetime, **kw) -> int:
        return insert_listing(db_session, source.id, ref, when, **{"lon": LON, "lat": LAT, **kw})

    first = add("first", day)
    add("cross-source copy", day + timedelta(hours=2), price=2030)  # same unit, 1.5% dearer
    add("copy with canonical", day + timedelta(hours=3), canonical_id=first, status="active")
    gone = add("delisted", day - timedelta(days=20), lat=LAT + 0.001, status="delisted")
    add("re-post of delisted", day + timedelta(days=1), lat=LAT + 0.001)
    add("re-post of expired", day + timedelta(days=2), lat=LAT + 0.002, status="active")
    add("expired original", day - timedelta(days=25), lat=LAT + 0.002, status="expired")
    other_beds = add("same spot, 2 bedrooms", day + timedelta(hours=1), bedrooms=2)
    other_price = add("same spot, 10% dearer", day + timedelta(hours=1), price=2200)
    other_bath = add("same spot, 2 bathrooms", day + timedelta(hours=1), bathrooms=2.0)
    apart = add("60 m away", day + timedelta(hours=1), lat=LAT + 0.00054)
    stale = add("old one", day - timedelta(days=45), lat=LAT + 0.003, status="expired")
    late_repost = add("re-post after 45 days", day, lat=LAT + 0.003)
    add("rejected", day, lat=LAT + 0.004, status="rejected")
    add("pending", day, lat=LAT + 0.005, status="pending")

    found = new_ids(db_session, date(2026, 11, 1), date(2026, 11, 8))
    assert found == {first, other_beds, other_price, other_bath, apart, late_repost}
    # the delisted and expired originals count on their own day, once
    assert gone in new_ids(db_session, date(2026, 10, 10), date(2026, 11, 8))
    assert stale not in found


def test_refresh_counts_each_new_listing_once_per_area(db_session, source):
    user, _ = create_user(db_session, "renter@example.com")
    region = Region(user_id=user.id, name="East", geom=SQUARE)
    empty = Region(user_id=user.id, name="Far", geom=ELSEWHERE)
    db_session.add_all([region, empty])
    db_session.flush()
    day = datetime.combine(TODAY - timedelta(days=3), datetime.min.time(), UTC) + timedelta(hours=9)
    for n in range(3):
        insert_listing(db_session, source.id, f"in-{n}", day, LON + 0.001 * (n + 1), LAT + 0.001)
    insert_listing(db_session, source.id, "copy", day, LON + 0.001, LAT + 0.001, price=2010)
    insert_listing(db_session, source.id, "outside", day, -79.6, 43.8)

    market.refresh_market(db_session, NOW)
    values = dict(
        db_session.execute(
            select(MarketPoint.series_key, MarketPoint.value).where(
                MarketPoint.day == day.date(), MarketPoint.kind == "history"
            )
        ).all()
    )
    assert values[series_key(f"region:{region.id}", "new", "all")] == 3
    assert values[series_key(f"region:{region.id}", "new", "1")] == 3
    assert values[series_key(f"region:{region.id}", "new", "2")] == 0
    assert values[series_key("city", "new", "all")] == 4
    assert values[series_key(f"region:{empty.id}", "new", "all")] == 0  # zeros, not missing
    assert values[series_key(f"region:{region.id}", "price", "1")] == 2000


@pytest.fixture
def busy_region(db_session, source) -> Region:
    """A region with 120 days of weekly-seasonal arrivals (about 10 a day)."""
    user, _ = create_user(db_session, "busy@example.com")
    region = Region(user_id=user.id, name="Busy", geom=SQUARE, min_bedrooms=1)
    db_session.add(region)
    db_session.flush()
    first = datetime.combine(TODAY - timedelta(days=120), datetime.min.time(), UTC)
    counts = weekly_counts(120, 10.0, seed=3, start_weekday=first.weekday())
    insert_arrivals(db_session, source.id, counts, first, LON, LAT)
    return region


def all_points(session) -> list[tuple]:
    return session.execute(
        select(
            MarketPoint.series_key,
            MarketPoint.day,
            MarketPoint.kind,
            MarketPoint.value,
            MarketPoint.low,
            MarketPoint.high,
            MarketPoint.model,
        ).order_by(MarketPoint.series_key, MarketPoint.day)
    ).all()


def test_rerunning_a_day_changes_nothing_and_the_next_day_replaces_the_window(db_session, busy_region):
    first = market.refresh_market(db_session, NOW)
    before = all_points(db_session)
    again = market.refresh_market(db_session, NOW)
    assert all_points(db_session) == before
    assert first["points"] == again["points"] == len(before)
    assert first["areas"] == 2  # the city and the region

    market.refresh_market(db_session, NOW + timedelta(days=1))
    key = series_key(f"region:{busy_region.id}", "new", "all")
    days = dict(
        db_session.execute(
            select(MarketPoint.day, MarketPoint.kind).where(MarketPoint.series_key == key)
        ).all()
    )
    tomorrow = TODAY + timedelta(days=1)
    assert days[TODAY] == "history"  # yesterday's forecast of today became history
    assert [d for d, k in days.items() if k == "forecast"] == [
        tomorrow + timedelta(days=h) for h in range(market.HORIZON)
    ]
    assert min(days) == tomorrow - timedelta(days=market.STORED_HISTORY_DAYS)
    assert len(days) == market.STORED_HISTORY_DAYS + market.HORIZON
    week = series_key(f"region:{busy_region.id}", "new", "all", "next7")  # one row, the latest run's
    assert db_session.scalars(select(MarketPoint.day).where(MarketPoint.series_key == week)).all() == [
        tomorrow
    ]


def test_a_run_out_of_time_stops_after_the_area_under_way_and_the_next_takes_up_the_stalest(
    db_session, busy_region, monkeypatch
):
    """A market of many regions outlasts Lambda's 15 minutes: each run stops at its deadline, and the
    next starts with the areas never refreshed, then the longest ago, so every area comes round (the
    regions' listings read a few regions at a time)."""
    monkeypatch.setattr(market, "REGION_CHUNK", 1)  # a read for each area
    user, _ = create_user(db_session, "more@example.com")
    others = [Region(user_id=user.id, name=f"R{n}", geom=ELSEWHERE) for n in range(2)]
    db_session.add_all(others)
    db_session.flush()
    expired = time.monotonic() - 1  # every run is out of time once its first area is done
    refreshed = []
    for minute in range(5):
        now = NOW + timedelta(minutes=minute)
        result = market.refresh_market(db_session, now, deadline=expired)
        assert (result["areas"], result["left"]) == (1, 3)
        refreshed += db_session.scalars(
            select(MarketPoint.series_key).where(
                MarketPoint.series_key.like("%:new:all:next7"), MarketPoint.trained_at == now
            )
        ).all()
    scopes = ["city", f"region:{busy_region.id}", f"region:{others[0].id}", f"region:{others[1].id}"]
    assert refreshed == [f"{scope}:new:all:next7" for scope in [*scopes, "city"]]
    whole = market.refresh_market(db_session, NOW + timedelta(hours=1))
    assert (whole["areas"], whole["left"]) == (4, 0)

    def history(scope: str) -> list[float]:
        return db_session.scalars(
            select(MarketPoint.value)
            .where(MarketPoint.series_key == series_key(scope, "new", "all"), MarketPoint.kind == "history")
            .order_by(MarketPoint.day)
        ).all()

    # every listing is in the busy region, read on its own: its series is the city's
    assert history(f"region:{busy_region.id}") == history("city") and sum(history("city")) > 300
    assert sum(history(f"region:{others[1].id}")) == 0
    for days in (1, 2):  # each area once a run, whatever the days it ran before
        later = market.refresh_market(db_session, NOW + timedelta(days=days))
        assert (later["areas"], later["left"]) == (4, 0)
    only = market.refresh_market(db_session, NOW + timedelta(hours=2), regions=[others[1].id])
    assert (only["areas"], only["left"]) == (2, 0)  # the city always, and the regions asked for


def test_every_series_has_history_and_an_ordered_forecast(db_session, busy_region):
    market.refresh_market(db_session, NOW)
    scope = f"region:{busy_region.id}"
    for beds in BED_BUCKETS:
        rows = db_session.scalars(
            select(MarketPoint)
            .where(MarketPoint.series_key == series_key(scope, "new", beds))
            .order_by(MarketPoint.day)
        ).all()
        history = [r for r in rows if r.kind == "history"]
        forecast = [r for r in rows if r.kind == "forecast"]
        assert len(history) == market.STORED_HISTORY_DAYS and history[-1].day == TODAY - timedelta(days=1)
        assert [r.day for r in forecast] == [TODAY + timedelta(days=h) for h in range(14)]
        assert all(0 <= r.low <= r.value <= r.high for r in forecast)
        assert all(r.model == market.COUNT_MODEL and r.trained_at == NOW for r in forecast)
        week = db_session.get(MarketPoint, (series_key(scope, "new", beds, "next7"), TODAY))
        assert week.low <= week.value <= week.high
        assert week.value == pytest.approx(sum(r.value for r in forecast[:7]))
    price = db_session.scalars(
        select(MarketPoint).where(
            MarketPoint.series_key == series_key(scope, "price", "all"), MarketPoint.kind == "forecast"
        )
    ).all()
    assert len(price) == 14 and all(r.low <= r.value <= r.high for r in price)
    assert all(1800 <= r.value <= 2400 for r in price)


def test_forecast_shapes_and_intervals():
    days = pd.Index(pd.date_range("2026-06-01", periods=84, freq="D").date)
    history = pd.Series(weekly_counts(84, 6.0, seed=1), index=days)
    daily, (mean, low, high) = market.forecast_counts(history)
    assert daily.shape == (14, 3)
    assert (daily["low"] <= daily["value"]).all() and (daily["value"] <= daily["high"]).all()
    assert (daily["low"] >= 0).all()
    assert low <= mean <= high
    # the weekly rhythm carries over: Mondays above Saturdays (2026-08-24 is a Monday)
    assert daily["value"].iloc[0] > daily["value"].iloc[5]

    quiet = pd.Series(np.zeros(84, dtype=int), index=days)
    zeros, total = market.forecast_counts(quiet)
    assert (zeros.to_numpy() == 0).all() and total == (0.0, 0.0, 0.0)

    price = pd.Series(np.linspace(2000, 2100, 84), index=days)
    forecast = market.forecast_price(price)
    assert len(forecast) == 14
    assert (forecast["low"] <= forecast["value"]).all() and (forecast["value"] <= forecast["high"]).all()
    assert market.forecast_price(pd.Series([2000.0] * 20 + [np.nan] * 64, index=days)).empty


def test_a_median_that_has_not_moved_still_gets_an_interval_from_the_listings_behind_it():
    """A small region where the trailing median sat at $2,150 for weeks was forecast $2,150-$2,150: the
    interval of a smooth series of medians, not of the few listings each median is taken from."""
    days = pd.Index(pd.date_range("2026-06-01", periods=56, freq="D").date)
    flat = pd.Series([2150.0] * 56, index=days)
    alone = market.forecast_price(flat)
    assert (alone["high"] - alone["low"]).max() < 1.0  # the series alone: an interval of no width
    listings = np.array([1900.0, 2000, 2100, 2150, 2150, 2200, 2250, 2300, 2400, 2600])
    forecast = market.forecast_price(flat, listings)
    # 80% for the median of ten: the 3rd and 8th of them (89% by the binomial), whatever the prices' shape
    assert market.median_interval(listings) == (2100.0, 2300.0)
    assert np.allclose(forecast["value"], 2150.0) and (forecast["low"] <= 2100.0).all()
    assert (forecast["high"] >= 2300.0).all()
    assert market.median_interval(np.array([3000.0, 1000, 2000])) == (1000.0, 3000.0)  # the extremes
    assert market.forecast_price(flat, np.array([2150.0, 2150.0])).empty  # two listings: no market price


def test_backtest_on_data_with_known_weekly_seasonality():
    """20 weekly origins over 300 days of negative-binomial counts with a weekly rhythm: the 80%
    intervals cover 80% ± 5 points and the model beats seasonal naive."""
    days = pd.Index(pd.date_range("2026-01-05", periods=300, freq="D").date)
    history = pd.Series(weekly_counts(300, 8.0, seed=11), index=days)
    result = market.backtest(history, weeks=20)
    assert result["origins"] == 20 and result["days"] == 20 * 14
    assert 0.75 <= result["coverage"] <= 0.85
    assert result["mae_model"] < result["mae_seasonal_naive"]


def test_backtest_needs_enough_history():
    days = pd.Index(pd.date_range("2026-01-05", periods=50, freq="D").date)
    with pytest.raises(ValueError, match="not enough history"):
        market.backtest(pd.Series(np.ones(50), index=days))
