"""POST /v1/estimates: the scorer's answer, in words, validated input."""

from __future__ import annotations

import pytest

from models.pricing import ListingFeatures, PriceModel

BODY = {
    "bedrooms": 2,
    "bathrooms": 1,
    "sqft": 850,
    "unit_type": "condo",
    "furnished": False,
    "latitude": 43.6532,
    "longitude": -79.3832,
}


def test_estimate_equals_the_scorer(client, alice, active_model, artifact_dir):
    response = client.post("/v1/estimates", json=BODY | {"price": 2600}, headers=alice.headers)
    body = response.get_json()
    assert response.status_code == 200, body
    expected = PriceModel.load(artifact_dir).estimate(
        ListingFeatures(
            bedrooms=2,
            bathrooms=1,
            sqft=850,
            furnished=False,
            unit_type="condo",
            latitude=43.6532,
            longitude=-79.3832,
        ),
        price=2600,
    )
    assert (body["p25"], body["p50"], body["p75"]) == pytest.approx(
        (expected.p25, expected.p50, expected.p75), rel=1e-12
    )
    assert body["label"] == expected.label and body["model_version"] == "api-test-v1"
    assert body["explanation"].startswith(f"$2,600 is {expected.label} for this type of listing.")
    assert body["typical_range"]["low"] % 25 == 0 and body["typical_range"]["high"] % 25 == 0
    assert body["chart_svg"].startswith("<svg")


def test_estimate_without_a_price_gives_the_range(client, alice, active_model):
    body = client.post("/v1/estimates", json=BODY, headers=alice.headers).get_json()
    assert body["label"] is None and body["price"] is None
    assert body["explanation"].startswith("Listings with the same number of bedrooms and bathrooms")


def test_no_model_yet_is_a_503(client, alice):
    response = client.post("/v1/estimates", json=BODY, headers=alice.headers)
    assert response.status_code == 503 and "No price model" in response.get_json()["detail"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"latitude": 123}, "json.latitude"),
        ({"bedrooms": "two"}, "json.bedrooms"),
        ({"unit_type": "castle"}, "json.unit_type"),
        ({"sqft": 5}, "json.sqft"),
        ({"colour": "blue"}, "json.colour"),
        ({"price": -5}, "json.price"),
    ],
)
def test_invalid_estimates_name_the_field(client, alice, active_model, change, field):
    response = client.post("/v1/estimates", json=BODY | change, headers=alice.headers)
    assert response.status_code == 422 and field in [e["field"] for e in response.get_json()["errors"]]


def test_body_must_be_json_and_not_huge(client, alice, active_model):
    assert client.post("/v1/estimates", data="bedrooms=2", headers=alice.headers).status_code == 422
    huge = client.post(
        "/v1/estimates",
        data=b"{" + b" " * 300_000 + b"}",
        headers=alice.headers | {"Content-Type": "application/json"},
    )
    assert huge.status_code == 413 and huge.mimetype == "application/problem+json"


def test_a_place_outside_the_market_is_not_judged(client, alice, active_model):
    """Sydney was given a Toronto rent range, from neighbours half the world away, as confidently."""
    response = client.post(
        "/v1/estimates", json=BODY | {"latitude": -33.87, "longitude": 151.21}, headers=alice.headers
    )
    assert response.status_code == 422
    assert response.get_json()["detail"] == (
        "nook knows no listing within 50 km of this place, so it cannot judge a rent there."
    )
    suburb = BODY | {"latitude": 43.80, "longitude": -79.50}  # ~20 km out: still the market
    assert client.post("/v1/estimates", json=suburb, headers=alice.headers).status_code == 200


def test_an_unloadable_model_is_a_503(client, alice, db_session, tmp_path):
    from datetime import UTC, datetime

    from models.price_rank import PriceModel

    db_session.add(
        PriceModel(
            version="broken",
            run_id="broken",
            artifact_uri=str(tmp_path / "missing"),
            metrics={},
            n_train=0,
            activated_at=datetime.now(UTC),
        )
    )
    db_session.flush()
    response = client.post("/v1/estimates", json=BODY, headers=alice.headers)
    assert response.status_code == 503 and "cannot be loaded" in response.get_json()["detail"]
