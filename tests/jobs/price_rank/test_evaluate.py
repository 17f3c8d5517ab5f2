"""`flask price-rank evaluate` on a generated listings CSV."""

from __future__ import annotations

import pandas as pd
import pytest

from jobs.cli import price_rank_evaluate
from jobs.price_rank import evaluate
from jobs.price_rank.demo_frame import market_frame


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory):
    frame = market_frame(6000, seed=11).rename(
        columns={
            "price": "rent",
            "bedrooms": "beds",
            "latitude": "lat",
            "longitude": "lng",
            "unit_type": "kind",
        }
    )
    frame["building"] = frame["lat"].round(3).astype(str) + "," + frame["lng"].round(3).astype(str)
    frame = pd.concat([frame, frame.head(40)])  # exact duplicate rows: removed before evaluating
    path = tmp_path_factory.mktemp("csv") / "market.csv"
    frame.drop(columns=["listing_id"]).to_csv(path, index=False)
    return str(path)


MAPPING = (
    "price=rent,bedrooms=beds,latitude=lat,longitude=lng,unit_type=kind,sqft=sqft,bathrooms=bathrooms,"
    "furnished=furnished"
)


def test_groups_never_straddle_train_and_test():
    frame = pd.DataFrame({"g": list("aabbbccd") * 10})
    folds = evaluate.fold_of(frame, "g", 3, seed=1)
    assert frame.assign(f=folds).groupby("g")["f"].nunique().max() == 1


def test_mapping_errors_are_clear():
    with pytest.raises(ValueError, match="the mapping needs longitude"):
        evaluate.parse_mapping("price=a,bedrooms=b,latitude=c")
    with pytest.raises(ValueError, match="unknown mapping names: colour"):
        evaluate.parse_mapping("price=a,bedrooms=b,latitude=c,longitude=d,colour=e")


def test_evaluate_command_prints_both_models_side_by_side(csv_path):
    from flask import Flask

    app = Flask("t")
    app.cli.add_command(price_rank_evaluate)
    result = app.test_cli_runner().invoke(
        price_rank_evaluate,
        ["--csv", csv_path, "--map", MAPPING, "--group", "building", "--by", "kind", "--folds", "3"],
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert (
        "6,000 listings, 3-fold grouped cross-validation (dropped: {'duplicates': 40, 'unusable': 0})" in out
    )
    assert "full model" in out and "no neighbours" in out
    for label in (
        "share below p25 (low)",
        "share above p75 (high)",
        "coverage p25-p75",
        "pinball loss p50 ($)",
        "median band width ($)",
        "by bedrooms:",
        "by kind:",
        "basement",
    ):
        assert label in out, label


def test_out_of_sample_targets_on_demo_market(csv_path):
    frame, dropped = evaluate.load_csv(csv_path, evaluate.parse_mapping(MAPPING), ["building"])
    result = evaluate.cross_validate(frame, group="building", folds=3, dropped=dropped)
    price = frame["price"].to_numpy(float)
    from jobs.price_rank.model import evaluate_ranges

    full = evaluate_ranges(price, result.bands["full"])
    base = evaluate_ranges(price, result.bands["no_neighbours"])
    assert abs(full["tail_low"] - 0.25) <= 0.02 and abs(full["tail_high"] - 0.25) <= 0.02
    for q in ("p25", "p50", "p75"):
        assert full["pinball"][q] <= 0.9 * base["pinball"][q]


def test_missing_csv_column(csv_path):
    with pytest.raises(ValueError, match="columns not in the CSV: rooms"):
        evaluate.load_csv(csv_path, evaluate.parse_mapping(MAPPING.replace("beds", "rooms")), [])
