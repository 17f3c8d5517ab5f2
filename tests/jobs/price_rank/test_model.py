"""The price model: features, neighbours, calibration, non-crossing, scorer = statsmodels."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from annoy import AnnoyIndex
from statsmodels.regression.quantile_regression import QuantReg

from jobs.price_rank import model
from jobs.price_rank.demo_frame import market_frame
from jobs.price_rank.model import Settings, design_frame, features_of, fills_for
from models.pricing import ListingFeatures, PriceModel, Projection, design_row

TINY = pd.DataFrame(
    [
        {
            "listing_id": 1,
            "price": 2000.0,
            "bedrooms": 1,
            "bathrooms": 1.0,
            "sqft": 600.0,
            "furnished": False,
            "unit_type": "apartment",
            "latitude": 43.65,
            "longitude": -79.38,
        },
        {
            "listing_id": 2,
            "price": 1500.0,
            "bedrooms": 0,
            "bathrooms": None,
            "sqft": None,
            "furnished": None,
            "unit_type": None,
            "latitude": 43.66,
            "longitude": -79.39,
        },
        {
            "listing_id": 3,
            "price": 4200.0,
            "bedrooms": 6,
            "bathrooms": 3.0,
            "sqft": 2400.0,
            "furnished": True,
            "unit_type": "house",
            "latitude": 43.70,
            "longitude": -79.40,
        },
        {
            "listing_id": 4,
            "price": 900.0,
            "bedrooms": 1,
            "bathrooms": 1.5,
            "sqft": 0.0,
            "furnished": True,
            "unit_type": "room",
            "latitude": 43.64,
            "longitude": -79.37,
        },
    ]
).astype({"sqft": "float64", "bathrooms": "float64"})


@pytest.mark.parametrize("position", range(len(TINY)))
def test_design_frame_equals_the_scorer_row(position):
    fills = fills_for(TINY)
    nn = np.array([2100.0, 1700.0, 3900.0, 1000.0])
    frame = design_frame(TINY, nn, fills)
    row = design_row(
        features_of(TINY.iloc[[position]].itertuples(index=False).__next__()),
        nn[position],
        fills,
        list(frame.columns),
    )
    assert row == pytest.approx(frame.iloc[position].tolist(), rel=1e-12)


def test_missing_values_are_explicit_not_dropped():
    fills = fills_for(TINY)
    frame = design_frame(TINY, None, fills)
    assert len(frame) == len(TINY)
    studio, room = frame.iloc[1], frame.iloc[3]
    assert studio["sqft_missing"] == 1 and studio["log_sqft"] == pytest.approx(fills["log_sqft"]["0"])
    assert (
        studio["bathrooms_missing"] == 1 and studio["furnished_missing"] == 1 and studio["type_missing"] == 1
    )
    assert studio["bed_0"] == 1 and room["sqft_missing"] == 1  # a zero size is no size
    assert frame.iloc[2]["bed_4"] == 1  # six bedrooms share the 4+ bucket


def test_projection_is_in_metres():
    projection = Projection(43.65, -79.38)
    x, y = projection.to_metres(43.65 + 1 / 111.195, -79.38)
    assert (round(x, 3), round(y)) == (0.0, 1000)
    x, _ = projection.to_metres(43.65, -79.38 + 0.01)
    assert x == pytest.approx(0.01 * 111_195 * math.cos(math.radians(43.65)), rel=1e-4)


def grid_frame():
    """25 one-bedrooms on a 100 m grid, all $2,000 — except a $9,000 one in the middle."""
    rows = []
    for i in range(25):
        rows.append(
            {
                "listing_id": 100 + i,
                "price": 9000.0 if i == 12 else 2000.0,
                "bedrooms": 1,
                "bathrooms": 1.0,
                "sqft": 600.0,
                "furnished": False,
                "unit_type": "apartment",
                "latitude": 43.65 + (i // 5) * 0.0009,
                "longitude": -79.38 + (i % 5) * 0.00124,
            }
        )
    return pd.DataFrame(rows)


def test_a_listing_is_never_its_own_neighbour(tmp_path):
    frame = grid_frame()
    projection = model.projection_for(frame)
    settings = Settings(k=50)
    buckets = model.build_buckets(frame, projection, tmp_path, settings)
    nn, within = model.neighbour_prices(frame, buckets, projection, settings, 2000.0, exclude_self=True)
    assert within.all()
    assert nn[12] == pytest.approx(2000.0)  # the $9,000 one sees only its $2,000 neighbours
    assert all(2000.0 < v < 9000.0 for i, v in enumerate(nn) if i != 12)  # everyone else sees it


def test_neighbour_index_is_the_same_forest_every_time(tmp_path):
    """Each index is built by one thread: byte for byte what a single-threaded build of the same listings
    saves. annoy's own threads append their trees in the order they finish, so under load the same
    listings gave another forest, other neighbours and another model (a re-run changed 4 labels)."""
    frame = market_frame(2000, seed=4)
    projection = model.projection_for(frame)
    model.build_buckets(frame, projection, tmp_path / "built", Settings())
    reference = AnnoyIndex(2, "euclidean")
    reference.set_seed(Settings().seed)
    for item, (lat, lon) in enumerate(zip(frame["latitude"], frame["longitude"], strict=True)):
        reference.add_item(item, [float(v) for v in projection.to_metres(lat, lon)])
    reference.build(Settings().n_trees, n_jobs=1)
    reference.save(str(tmp_path / "reference.ann"))
    assert (tmp_path / "built" / "index_all.ann").read_bytes() == (tmp_path / "reference.ann").read_bytes()


def positions(frame):
    """Every listing's place in the market's metres."""
    projection = model.projection_for(frame)
    return np.array(
        [projection.to_metres(lat, lon) for lat, lon in zip(frame.latitude, frame.longitude, strict=True)]
    )


def recall_and_error(buckets, settings, frame, queries, exclude):
    """Mean share of the exact k nearest (same bucket) that `buckets` find for each (bedrooms, x, y), and
    the largest relative error of the neighbour price they give."""
    from models.pricing import bucket_of

    xy, keys = positions(frame), frame["bedrooms"].map(bucket_of).to_numpy()
    recalls, errors = [], []
    for (bedrooms, x, y), excluded in zip(queries, exclude, strict=True):
        key = bucket_of(bedrooms)
        members = np.flatnonzero(keys == key)
        distance = np.hypot(xy[members, 0] - x, xy[members, 1] - y)
        distance[frame["listing_id"].to_numpy()[members] == excluded] = np.inf
        exact = np.argsort(distance, kind="stable")[: settings.k]
        items, found = buckets[key].nearest(x, y, settings.k, excluded)
        recalls.append(len(set(items) & set(exact.tolist())) / settings.k)
        weights = np.exp(-(distance[exact] - distance[exact][0]) / settings.decay_m)
        truth = weights @ frame["price"].to_numpy()[members][exact] / weights.sum()
        errors.append(abs(buckets[key].weighted_price(items, found, settings.decay_m) / truth - 1))
    return float(np.mean(recalls)), max(errors)


def test_neighbour_search_finds_the_exact_nearest_at_least_as_well_as_ten_trees_did(tmp_path):
    """5 trees searched for 8 x (k + 1) candidates (stored in the artifact) against the exact 50 nearest:
    for listings learned from, and for places anywhere in and around the market; no worse than the 10
    trees and annoy's default search models had before, in less time (bench/RESULTS.md, price_rank)."""
    frame = market_frame(8000, seed=21)
    projection = model.projection_for(frame)
    rng = np.random.default_rng(5)
    rows = frame.iloc[rng.choice(len(frame), 200, replace=False)]
    xy = positions(rows)
    listings = [(b, x, y) for b, (x, y) in zip(rows.bedrooms, xy, strict=True)]
    everywhere = positions(frame)
    low, high = everywhere.min(axis=0) - 3000, everywhere.max(axis=0) + 3000
    places = [(int(rng.integers(0, 5)), *rng.uniform(low, high)) for _ in range(200)]
    settings, before = Settings(), Settings(n_trees=10)
    assert (settings.n_trees, settings.search_k) == (5, 408)
    new = model.build_buckets(frame, projection, tmp_path / "new", settings)
    old = model.build_buckets(frame, projection, tmp_path / "old", before)
    for bucket in old.values():
        bucket.search_k = -1  # annoy's default: trees x items asked, 510
    own, nobody = rows["listing_id"].tolist(), [None] * len(places)
    new_listings, new_listings_error = recall_and_error(new, settings, frame, listings, own)
    new_places, new_places_error = recall_and_error(new, settings, frame, places, nobody)
    old_listings, _ = recall_and_error(old, before, frame, listings, own)
    old_places, old_places_error = recall_and_error(old, before, frame, places, nobody)
    print(
        new_listings,
        new_listings_error,
        new_places,
        new_places_error,
        old_listings,
        old_places,
        old_places_error,
    )
    assert new_listings >= 0.995 and new_listings_error < 0.01
    assert new_listings >= old_listings and new_places >= old_places
    assert new_places_error <= max(old_places_error, 0.05)


def test_an_artifact_says_how_widely_it_is_searched_and_an_older_one_is_searched_as_before(trained, tmp_path):
    import json
    import shutil

    spec = json.loads((trained.directory / "model.json").read_text())
    assert (spec["neighbours"]["n_trees"], spec["neighbours"]["search_k"]) == (5, 408)
    loaded = PriceModel.load(trained.directory)
    assert {bucket.search_k for bucket in loaded.buckets.values()} == {408}
    x, y = loaded.projection.to_metres(43.65, -79.38)
    assert len(loaded.buckets["all"].nearest(x, y, 50, None)[0]) == 50
    narrow = loaded.buckets["all"]
    narrow.search_k = 4  # a search that examines a few candidates finds no more than those
    assert len(narrow.nearest(x, y, 50, None)[0]) < 50
    older = tmp_path / "older"
    shutil.copytree(trained.directory, older)
    del spec["neighbours"]["search_k"]
    (older / "model.json").write_text(json.dumps(spec))
    assert {bucket.search_k for bucket in PriceModel.load(older).buckets.values()} == {-1}


def test_neighbour_weights_decay_with_distance(tmp_path):
    frame = grid_frame()
    projection = model.projection_for(frame)
    buckets = model.build_buckets(frame, projection, tmp_path, Settings())
    corner = features_of(frame.iloc[[0]].itertuples(index=False).__next__())
    from models.pricing import neighbourhood

    near = neighbourhood(buckets, projection, 50, 100.0, corner, 100, 0.0).price  # short decay: local view
    far = neighbourhood(buckets, projection, 50, 1e9, corner, 100, 0.0).price  # no decay: plain mean
    assert far == pytest.approx((23 * 2000 + 9000) / 24)
    assert near < far  # the $9,000 one is ~300 m away and counts much less


def test_calibrated_out_of_sample(trained):
    metrics = trained.metrics
    assert metrics["folds"] == 5 and metrics["n_test"] == 20_000  # 4,000 held out per fold, pooled
    assert metrics["n_calibration"] == 20_000 and metrics["n_fit"] == 16_000  # fold 0 fits on 80%
    assert "each of 5 folds" in metrics["calibration"]["method"]
    assert "20,000 held-out predictions pooled" in metrics["calibration"]["method"]
    assert abs(metrics["tail_low"] - 0.25) <= 0.02 and abs(metrics["tail_high"] - 0.25) <= 0.02
    assert abs(metrics["coverage"] - 0.50) <= 0.03
    assert "cross-fitted split-conformal" in metrics["calibration"]["method"]
    assert all(fact["converged"] for fact in metrics["fit"].values())


def test_folds_hold_out_parts_that_never_overlap():
    settings = Settings()
    learnable = np.arange(103) * 2  # the learnable rows' positions (outliers sit between them)
    parts = []
    for fold in range(5):
        fit, part = model.fold_rows(learnable, settings, fold)
        assert not set(fit) & set(part) and sorted(np.concatenate([fit, part])) == list(learnable)
        parts.append(part)
    assert [len(part) for part in parts] == [21, 21, 21, 20, 20]
    assert sorted(np.concatenate(parts)) == list(learnable)  # every row held out exactly once
    assert len(model.fold_rows(learnable, Settings(max_fit_rows=50), 0)[0]) == 50
    assert model.fold_count(103, settings) == 5  # 20 held out a fold; every fold it takes to pool them
    assert model.fold_count(300, Settings(min_held_out=130)) == 3
    assert model.fold_count(103, Settings(min_held_out=0)) == 2  # one to judge the other by, always
    assert model.fold_count(100_000, settings) == 2  # 20,000 held out at once are enough


def scorer_design(frame: pd.DataFrame, trained: model.Trained) -> tuple[PriceModel, pd.DataFrame]:
    """The saved artifact, and the frame's model columns with neighbour prices found through it."""
    loaded = PriceModel.load(trained.directory)
    nn = np.array(
        [loaded.neighbour_price(features_of(r), int(r.listing_id)) for r in frame.itertuples(index=False)]
    )
    return loaded, design_frame(frame, nn, trained.spec["fills"])[loaded.columns]


def single_part_labels(frame: pd.DataFrame, trained: model.Trained) -> np.ndarray:
    """The labels the served model would give if it were calibrated on its own held-out part alone."""
    raw = model.predict_log(scorer_design(frame, trained)[1], trained.spec["coefficients"])
    price = frame["price"].to_numpy(float)
    part = model.fold_rows(np.arange(len(frame)), Settings(), 0)[1]
    shifts = model.calibration_shifts([{q: np.log(price[part]) - raw[q][part] for q in raw}])
    return model.labels_for(price, model.served(raw, shifts))


def label_miss(labels: np.ndarray) -> float:
    """How far the larger of the low and high label shares is from 25%."""
    return max(abs(np.mean(labels == "low") - 0.25), abs(np.mean(labels == "high") - 0.25))


def test_small_market_pools_its_folds_so_labels_and_tails_come_out_right(tmp_path):
    """3,000 listings hold out 600 at a time. Calibrated on one such part, the served labels came out
    3-4 points off 25% (the demo's 8,000 once labelled 27.6% low); the shifts pool all five parts, so the
    labels are within 1.5 points and the held-out tails within one."""
    single_misses = []
    for seed in (1, 3, 6):
        frame = market_frame(3000, seed=seed)
        trained = model.train(frame, tmp_path / str(seed), "pooled", Settings())
        metrics = trained.metrics
        assert metrics["folds"] == 5 and metrics["n_test"] == 3000
        assert abs(metrics["tail_low"] - 0.25) <= 0.01 and abs(metrics["tail_high"] - 0.25) <= 0.01, seed
        assert label_miss(trained.scores["label"].to_numpy()) <= 0.015, seed
        single_misses.append(label_miss(single_part_labels(frame, trained)))
    assert min(single_misses) > 0.025  # what one held-out part alone would have served


def test_neighbour_feature_lowers_pinball_loss_by_a_tenth(market, trained, tmp_path):
    without = model.train(market, tmp_path, "no-nn", Settings(use_neighbours=False))
    for q in ("p25", "p50", "p75"):
        assert trained.metrics["pinball"][q] <= 0.9 * without.metrics["pinball"][q], q


def test_served_quantiles_never_cross(trained):
    scores = trained.scores
    assert (scores["p25"] <= scores["p50"]).all() and (scores["p50"] <= scores["p75"]).all()
    loaded = PriceModel.load(trained.directory)
    odd = ListingFeatures(
        bedrooms=9,
        bathrooms=12.0,
        sqft=15000,
        furnished=True,
        unit_type="room",
        latitude=44.5,
        longitude=-80.9,
    )  # far outside the market, absurd shape
    estimate = loaded.estimate(odd, price=5000)
    assert estimate.p25 <= estimate.p50 <= estimate.p75


def test_labels_split_about_25_50_25(trained):
    shares = trained.scores["label"].value_counts(normalize=True)
    assert abs(shares["low"] - 0.25) < 0.03 and abs(shares["high"] - 0.25) < 0.03


def test_scorer_reproduces_statsmodels_on_every_training_row(market, trained):
    fit_rows, _ = model.fold_rows(np.arange(len(market)), Settings(), 0)  # the market has no outliers
    loaded, design = scorer_design(market, trained)
    log_price = np.log(market["price"].to_numpy(float))
    for q, level in model.LEVELS.items():
        fit = QuantReg(log_price[fit_rows], design.iloc[fit_rows].to_numpy()).fit(q=level, **model.FIT)
        expected = fit.predict(design.iloc[fit_rows].to_numpy())
        scored = np.array(
            [
                loaded.raw_quantiles(features_of(r), int(r.listing_id))[q]
                for r in market.iloc[fit_rows].itertuples(index=False)
            ]
        )
        relative = np.abs(np.exp(scored) - np.exp(expected)) / np.exp(expected)
        assert relative.max() < 1e-6, (q, relative.max())


def test_too_few_listings_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="need at least 50 listings to train, got 4"):
        model.train(TINY, tmp_path, "v")


def test_a_market_where_every_flat_rents_alike_labels_every_flat_typical(tmp_path):
    """The bands come out a rounding error either side of the one rent (1499.9999999988 to
    1500.0000000096); compared as they were, 998 of 1,000 flats at $1,500 were labelled low."""
    frame = market_frame(1000)
    frame["price"] = 1500.0
    trained = model.train(frame, tmp_path, "alike")
    assert (trained.scores["label"] == "typical").all()
    assert (trained.scores[["p25", "p50", "p75"]] == 1500.0).all().all()
    loaded = PriceModel.load(trained.directory)
    for row in frame.head(50).itertuples(index=False):
        estimate = loaded.estimate(features_of(row), price=1500.0, exclude_id=int(row.listing_id))
        assert (estimate.label, estimate.p25, estimate.p75) == ("typical", 1500.0, 1500.0)


def test_a_place_farther_than_the_reach_from_every_listing_is_outside_the_market(tmp_path):
    """Toronto's market, one flat in Montreal and six studios in Kingston: Montreal's flat has nobody
    within 50 km but itself, so neither training nor the scorer ranks it; a two-bedroom in Kingston has
    no two-bedroom within 50 km, but the studios there make it the market's."""
    toronto = market_frame(300)
    montreal = toronto.head(1).assign(listing_id=9001, latitude=45.50, longitude=-73.57)
    kingston = toronto.head(6).assign(
        listing_id=range(9002, 9008),
        bedrooms=0,
        latitude=[44.23 + n * 0.001 for n in range(6)],
        longitude=-76.48,
    )
    trained = model.train(pd.concat([toronto, montreal, kingston], ignore_index=True), tmp_path, "reach")
    scores = trained.scores.set_index("listing_id")
    assert scores.loc[9001, ["p25", "p50", "p75"]].isna().all() and scores.loc[9001, "label"] is None
    assert scores.drop(9001)["label"].isin(["low", "typical", "high"]).all()
    assert trained.metrics["n_outside_market"] == 1
    loaded = PriceModel.load(trained.directory)
    flat = features_of(montreal.iloc[0])
    assert not loaded.estimate(flat, price=2000.0, exclude_id=9001).within_reach
    assert loaded.estimate(flat, price=2000.0).within_reach  # a new listing there finds this one
    two_bedroom = ListingFeatures(2, 1.0, 800.0, False, "apartment", 44.235, -76.48)
    assert loaded.estimate(two_bedroom).within_reach
    ottawa = ListingFeatures(2, 1.0, 800.0, False, "apartment", 45.42, -75.70)  # 140 km from Kingston
    assert not loaded.estimate(ottawa).within_reach
    assert loaded.estimate(
        features_of(toronto.iloc[0]), exclude_id=int(toronto.iloc[0].listing_id)
    ).within_reach
