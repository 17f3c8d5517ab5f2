"""GET /v1/regions/<id>/market: history, forecast and one plain sentence; only for the region's owner."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from app.market import summary
from jobs import market
from models.matching import refresh_region_members
from models.region import Region
from models.source import Source
from tests.factories import insert_arrivals, weekly_counts

SQUARE = (
    "SRID=4326;MULTIPOLYGON(((-79.351 43.659, -79.33 43.659, -79.33 43.67, -79.351 43.67, -79.351 43.659)))"
)


@pytest.fixture
def region_with_market(db_session, alice) -> Region:
    """Alice's 1+ bedroom region with 120 days of arrivals, and the market job run on it today."""
    region = Region(user_id=alice.user.id, name="East", geom=SQUARE, min_bedrooms=1)
    source = Source(name="market-api", kind="json_feed", config={"url": "http://unused"})
    db_session.add_all([region, source])
    db_session.flush()
    now = datetime.now(UTC)
    first = datetime.combine(now.date() - timedelta(days=120), datetime.min.time(), UTC)
    insert_arrivals(
        db_session,
        source.id,
        weekly_counts(120, 10.0, seed=4, start_weekday=first.weekday()),
        first,
        -79.35,
        43.66,
    )
    market.refresh_market(db_session, now)
    return region


def test_history_forecast_and_summary(client, alice, region_with_market):
    response = client.get(f"/v1/regions/{region_with_market.id}/market", headers=alice.headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["bedrooms"] == "1"  # the region's minimum bedrooms
    today = date.today()
    history, forecast = body["new_listings"]["history"], body["new_listings"]["forecast"]
    assert len(history) == market.STORED_HISTORY_DAYS and history[-1]["day"] == str(today - timedelta(days=1))
    assert [p["day"] for p in forecast] == [str(today + timedelta(days=h)) for h in range(14)]
    assert all(p["low"] <= p["value"] <= p["high"] for p in forecast)
    assert all(isinstance(p["value"], float) for p in history)
    week = body["next_7_days"]
    assert week["low"] <= week["expected"] <= week["high"]
    assert len(body["median_price"]["history"]) == market.STORED_HISTORY_DAYS
    assert len(body["median_price"]["forecast"]) == 14
    assert body["model"] == market.COUNT_MODEL and body["trained_at"]
    expected = round(week["expected"])
    assert re.fullmatch(
        rf"About {expected} new 1-bedroom listings? expected in the next 7 days "
        rf"\({round(week['low'])}-{round(week['high'])}\); median asking price "
        r"(steady at|up \d+% to|down \d+% to) \$\d,\d{3}\. "
        r"No listing here has cut its price in the last 30 days\.",
        body["summary"],
    ), body["summary"]

    everything = client.get(
        f"/v1/regions/{region_with_market.id}/market", query_string={"bedrooms": "all"}, headers=alice.headers
    ).get_json()
    assert everything["bedrooms"] == "all" and "About" in everything["summary"]
    assert everything["next_7_days"]["expected"] > week["expected"]


def test_another_users_region_is_a_404(client, alice, bob, region_with_market):
    path = f"/v1/regions/{region_with_market.id}/market"
    response = client.get(path, headers=bob.headers)
    assert response.status_code == 404 and "East" not in response.get_data(as_text=True)
    assert client.get(path).status_code == 401
    assert client.get("/v1/regions/999999/market", headers=alice.headers).status_code == 404


def test_bad_bedrooms_are_a_422(client, alice, region_with_market):
    response = client.get(
        f"/v1/regions/{region_with_market.id}/market", query_string={"bedrooms": "7"}, headers=alice.headers
    )
    assert response.status_code == 422 and "bedrooms" in response.get_data(as_text=True)


def test_a_region_before_the_first_run_says_so(client, alice, db_session):
    region = Region(user_id=alice.user.id, name="New", geom=SQUARE)
    db_session.add(region)
    db_session.flush()
    body = client.get(f"/v1/regions/{region.id}/market", headers=alice.headers).get_json()
    assert body["bedrooms"] == "all" and body["next_7_days"] is None
    assert body["new_listings"] == {"history": [], "forecast": []}
    assert body["summary"] == (
        "No market figures for this region yet: they are computed once a day. "
        "No listing here has cut its price in the last 30 days."
    )
    assert body["price_cuts"] == {"days": 30, "listings": 0, "median_percent": None}


def test_the_price_cuts_of_the_regions_listings_lately(client, alice, db_session, region_with_market):
    refresh_region_members(db_session, region_with_market.id)
    members = db_session.execute(
        text("""
            SELECT l.id, l.bedrooms FROM listings l JOIN region_listings m ON m.listing_id = l.id
            WHERE m.region_id = :r ORDER BY l.id
        """),
        {"r": region_with_market.id},
    ).all()
    ones = [i for i, bedrooms in members if bedrooms == 1][:3]
    twos = [i for i, bedrooms in members if bedrooms == 2][:1]
    for listing_id, share in zip(ones + twos, (0.04, 0.06, 0.10, 0.20), strict=True):
        db_session.execute(
            text("UPDATE listings SET price = round(price * (1 - :s)) WHERE id = :id"),
            {"s": share, "id": listing_id},
        )
    db_session.execute(  # a cut long ago, and a rise, are not cuts of late
        text("UPDATE listings SET price = price - 100 WHERE id = :id"),
        {"id": [i for i, b in members if b == 1][3]},
    )
    db_session.execute(
        text("UPDATE listings SET price_changed_at = now() - interval '31 days' WHERE id = :id"),
        {"id": [i for i, b in members if b == 1][3]},
    )
    db_session.execute(
        text("UPDATE listings SET price = price + 100 WHERE id = :id"),
        {"id": [i for i, b in members if b == 1][4]},
    )

    def cuts(bedrooms: str) -> dict:
        return client.get(
            f"/v1/regions/{region_with_market.id}/market",
            query_string={"bedrooms": bedrooms},
            headers=alice.headers,
        ).get_json()

    one = cuts("1")
    assert one["price_cuts"]["listings"] == 3 and one["price_cuts"]["median_percent"] == pytest.approx(
        6, abs=0.2
    )
    assert one["summary"].endswith(
        " 3 listings here cut their price in the last 30 days, by 6% at the median."
    )
    assert cuts("2")["price_cuts"]["listings"] == 1 and cuts("all")["price_cuts"]["listings"] == 4
    assert cuts("0")["price_cuts"] == {"days": 30, "listings": 0, "median_percent": None}


def prices(values: list[float]) -> list[dict]:
    return [{"day": date(2026, 10, 1) + timedelta(days=i), "value": v} for i, v in enumerate(values)]


@pytest.mark.parametrize(
    ("bucket", "history", "sentence"),
    [
        (
            "1",
            prices([2100.0] * 28 + [2150.0]),
            "About 12 new 1-bedroom listings expected in the next 7 days (8-16); "
            "median asking price steady at $2,150.",
        ),
        (
            "0",
            prices([1500.0] * 28 + [1800.0]),
            "About 12 new studio listings expected in the next 7 days (8-16); "
            "median asking price up 20% to $1,800.",
        ),
        (
            "all",
            prices([2000.0] * 5),
            "About 12 new listings expected in the next 7 days (8-16); median asking price $2,000.",
        ),
        (
            "4+",
            [],
            "About 12 new 4+ bedroom listings expected in the next 7 days (8-16); "
            "not enough listings yet to tell the median asking price.",
        ),
    ],
)
def test_summary_sentences(bucket, history, sentence):
    assert summary(bucket, {"expected": 12.3, "low": 8.0, "high": 16.2}, history) == sentence
