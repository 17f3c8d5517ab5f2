"""The market job's entry point, `flask market backtest`, and the demo's history backfill."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from jobs import market
from jobs.cli import market_group
from jobs.local.demo_history import backfill
from models.listing import Listing
from models.market import MarketPoint
from models.region import Region
from models.session import session_scope
from models.source import Source
from models.user import create_user
from tests.factories import insert_arrivals, weekly_counts
from tests.jobs.conftest import T0
from tests.jobs.test_ingest import served_refs
from tests.jobs.test_market import SQUARE


def seed_city(days: int = 100) -> None:
    """`days` days of weekly-seasonal arrivals up to yesterday, committed."""
    with session_scope() as session:
        source = Source(name="cli", kind="json_feed", config={"url": "http://unused"})
        session.add(source)
        session.flush()
        first = datetime.combine(datetime.now(UTC).date() - timedelta(days=days), datetime.min.time(), UTC)
        counts = weekly_counts(days, 8.0, seed=2, start_weekday=first.weekday())
        insert_arrivals(session, source.id, counts, first, -79.35, 43.66)


def test_backtest_prints_coverage_and_the_baseline(runner, committed):
    seed_city()
    result = runner.invoke(market_group, ["backtest", "--weeks", "4", "--days", "100"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "new listings (all), city-wide: 4 origins, 56 days"
    coverage = float(lines[1].split("coverage")[1].split("%")[0])
    assert 0 <= coverage <= 100
    assert ("met" if 75 <= coverage <= 85 else "MISSED") in lines[1]
    model = float(lines[2].split()[-1])
    naive = float(lines[3].split()[3])
    assert lines[3].endswith("model beats it: yes" if model < naive else "model beats it: NO")

    studios = runner.invoke(market_group, ["backtest", "--bedrooms", "0", "--weeks", "2", "--days", "100"])
    assert studios.exit_code == 0 and studios.output.startswith("new listings (studio), city-wide")


def test_backtest_of_each_split_pools_the_coverage(runner, committed):
    """--bedrooms each: a line per split and the coverage over all their forecast days, weighted by
    days (every split here has the same number), which --strict judges."""
    seed_city()
    result = runner.invoke(market_group, ["backtest", "--bedrooms", "each", "--weeks", "3", "--days", "100"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "new listings by bedrooms, city-wide: 3 origins, 42 days each"
    rows = {line.split()[0]: line.split() for line in lines[2:-1]}
    assert list(rows) == ["all", "studio", "1-bedroom", "2-bedroom", "3-bedroom", "4+"]
    coverages = [float(row[-3].rstrip("%")) for row in rows.values()]
    pooled = float(lines[-1].split()[1].rstrip("%"))
    assert abs(pooled - sum(coverages) / len(coverages)) <= 0.1
    assert ("met" if 75 <= pooled <= 85 else "MISSED") in lines[-1]
    wins = sum(float(row[-2]) < float(row[-1]) for row in rows.values())
    assert lines[-1].endswith(f"model beats seasonal naive in {wins} of 6")
    strict = runner.invoke(
        market_group, ["backtest", "--bedrooms", "each", "--weeks", "3", "--days", "100", "--strict"]
    )
    assert strict.exit_code == (0 if 75 <= pooled <= 85 and wins == 6 else 1), strict.output


def test_backtest_without_history_is_a_clear_error(runner, committed):
    result = runner.invoke(market_group, ["backtest", "--strict"])
    assert result.exit_code == 1
    assert "Error: no new listings here in the last 150 days: nothing to backtest" in result.output


def test_run_entry_point_commits_the_points(committed, lambda_context):
    seed_city(60)
    result = market.run({"kwargs": {}}, lambda_context)
    assert result["status"] == "succeeded" and result["areas"] == 1
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(MarketPoint)) == result["points"]
    again = market.run({"kwargs": {}}, lambda_context)
    assert again["points"] == result["points"]


def test_run_entry_point_stops_at_its_budget_and_commits_what_it_did(committed, lambda_context):
    seed_city(60)
    with session_scope() as session:
        user, _ = create_user(session, "budget@example.com")
        session.add(Region(user_id=user.id, name="r", geom=SQUARE))
    result = market.run({"kwargs": {"budget_seconds": 0}}, lambda_context)
    assert result["status"] == "succeeded" and (result["areas"], result["left"]) == (1, 1)
    with session_scope() as session:
        keys = set(session.scalars(select(MarketPoint.series_key).where(MarketPoint.kind == "forecast")))
    assert keys and all(key.startswith("city:") for key in keys)
    rest = market.run({"kwargs": {"budget_seconds": 0}}, lambda_context)
    assert (rest["areas"], rest["left"]) == (1, 1)
    with session_scope() as session:
        assert (
            session.scalar(select(func.count()).where(MarketPoint.series_key.like("region:%:new:all:next7")))
            == 1
        )


def test_demo_backfill_writes_gone_listings_once(db_session, demo_sources, demo_feed):
    main, mirror = demo_sources
    done = backfill(db_session, demo_feed.feed.market, T0, 30, demo_feed.base_url)
    assert done.main > 400 and done.mirror > 0 and done.still_active > 0 and done.broken > 0
    rows = db_session.execute(
        select(Listing.source_id, Listing.status, Listing.canonical_id, Listing.source_ref)
    ).all()
    assert len(rows) == done.main + done.mirror
    assert {status for _, status, _, _ in rows} == {"expired"}
    mains = {ref: None for source_id, _, _, ref in rows if source_id == main.id}
    assert all(canonical is None for source_id, _, canonical, _ in rows if source_id == main.id)
    main_ids = set(db_session.scalars(select(Listing.id).where(Listing.source_id == main.id)))
    assert {canonical for source_id, _, canonical, _ in rows if source_id == mirror.id} <= main_ids
    # nothing the feed serves now was written: the ingest job owns those
    assert not set(mains) & served_refs(demo_feed)[0]

    again = backfill(db_session, demo_feed.feed.market, T0, 30, demo_feed.base_url)
    assert (again.main, again.mirror) == (0, 0)
    assert db_session.scalar(select(func.count()).select_from(Listing)) == len(rows)
