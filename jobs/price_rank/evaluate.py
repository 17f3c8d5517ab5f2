"""Evaluate the price model on any listings CSV with grouped K-fold cross-validation.

Rows sharing a group value never straddle train and test. For every fold the
neighbour index is built from the training rows only (a test row's own price
never leaks into its neighbour price), the model is trained and calibrated on
those rows, and the test rows are scored. The full model and the same model
without the neighbour feature are compared side by side.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jobs.price_rank import model
from models.normalize import (
    Rejected,
    parse_bathrooms,
    parse_bedrooms,
    parse_furnished,
    parse_price,
    parse_unit_type,
)

REQUIRED = ("price", "bedrooms", "latitude", "longitude")
OPTIONAL = ("bathrooms", "sqft", "unit_type", "furnished")


@dataclass
class Evaluation:
    """Out-of-fold predictions of both models, and the frame they belong to."""

    frame: pd.DataFrame
    bands: dict[str, np.ndarray]  # "full" / "no_neighbours" -> (n, 3)
    folds: int
    dropped: dict[str, int]


def parse_mapping(text: str) -> dict[str, str]:
    """`price=rent,bedrooms=beds` -> {"price": "rent", "bedrooms": "beds"}."""
    mapping = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, column = part.partition("=")
        if not column:
            raise ValueError(f"mapping entry {part!r} is not name=column")
        mapping[name.strip()] = column.strip()
    missing = [name for name in REQUIRED if name not in mapping]
    if missing:
        raise ValueError(f"the mapping needs {', '.join(missing)}")
    unknown = sorted(set(mapping) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise ValueError(f"unknown mapping names: {', '.join(unknown)}")
    return mapping


def _clean_row(row: pd.Series, mapping: dict[str, str]) -> dict[str, Any]:
    def get(name: str) -> Any:
        value = row.get(mapping[name]) if name in mapping else None
        return None if value is None or (isinstance(value, float) and np.isnan(value)) else value

    sqft = get("sqft")
    return {
        "price": float(parse_price(get("price"))),
        "bedrooms": parse_bedrooms(get("bedrooms")),
        "bathrooms": parse_bathrooms(get("bathrooms")),
        "sqft": float(sqft) if sqft not in (None, "") and float(sqft) > 0 else None,
        "furnished": parse_furnished(get("furnished")),
        "unit_type": parse_unit_type(get("unit_type")),
        "latitude": float(get("latitude")),
        "longitude": float(get("longitude")),
    }


def load_csv(path: str, mapping: dict[str, str], extra: list[str]) -> tuple[pd.DataFrame, dict[str, int]]:
    """Read, deduplicate exact duplicate rows, clean with the shared rules; count what was dropped."""
    raw = pd.read_csv(path)
    missing = sorted(set(mapping.values()) | set(extra) - set(raw.columns))
    missing = [c for c in missing if c not in raw.columns]
    if missing:
        raise ValueError(f"columns not in the CSV: {', '.join(missing)}")
    deduped = raw.drop_duplicates()
    rows, bad = [], 0
    for index, row in deduped.iterrows():
        try:
            clean = _clean_row(row, mapping)
        except (Rejected, TypeError, ValueError):
            bad += 1
            continue
        rows.append({"listing_id": int(index), **clean, **{c: row[c] for c in extra}})
    frame = pd.DataFrame(rows)
    frame["sqft"] = frame["sqft"].astype("float64")
    frame["bathrooms"] = frame["bathrooms"].astype("float64")
    return frame, {"duplicates": len(raw) - len(deduped), "unusable": bad}


def fold_of(frame: pd.DataFrame, group: str | None, folds: int, seed: int) -> np.ndarray:
    """A fold number per row; rows of one group always share it."""
    rng = np.random.default_rng(seed)
    if group is None:
        return rng.permutation(len(frame)) % folds
    groups = frame[group].astype(str).unique()
    assignment = dict(zip(rng.permutation(groups), np.arange(len(groups)) % folds, strict=True))
    return frame[group].astype(str).map(assignment).to_numpy()


def _score_fold(train_rows: pd.DataFrame, test_rows: pd.DataFrame, settings: model.Settings) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        trained = model.train(train_rows, Path(tmp), "evaluate", settings)
        projection = model.Projection(**trained.spec["projection"])
        nn = None
        if settings.use_neighbours:
            from models.pricing import PriceModel

            buckets = PriceModel.load(Path(tmp)).buckets
            nn, _ = model.neighbour_prices(
                test_rows, buckets, projection, settings, trained.spec["fills"]["price"], exclude_self=False
            )
        design = model.design_frame(test_rows, nn, trained.spec["fills"])
        raw = model.predict_log(design, trained.spec["coefficients"])
        return model.served(raw, trained.spec["calibration"]["shifts"])


def cross_validate(
    frame: pd.DataFrame,
    group: str | None = None,
    folds: int = 5,
    seed: int = 7,
    dropped: dict[str, int] | None = None,
) -> Evaluation:
    """Out-of-fold bands for the full and the no-neighbour model."""
    assignment = fold_of(frame, group, folds, seed)
    bands = {name: np.zeros((len(frame), 3)) for name in ("full", "no_neighbours")}
    for fold in range(folds):
        test = assignment == fold
        if not test.any():
            continue
        for name, use in (("full", True), ("no_neighbours", False)):
            # the fold's own test rows judge it, so the model fits only the two inner folds it must
            settings = model.Settings(use_neighbours=use, seed=seed + fold, min_held_out=0)
            bands[name][test] = _score_fold(frame[~test], frame[test], settings)
    return Evaluation(frame, bands, folds, dropped or {})


def report(evaluation: Evaluation, by: str | None = None) -> str:
    """The side-by-side comparison and breakdowns, as text."""
    price = evaluation.frame["price"].to_numpy(float)
    results = {name: model.evaluate_ranges(price, b) for name, b in evaluation.bands.items()}
    lines = [
        f"{len(price):,} listings, {evaluation.folds}-fold grouped cross-validation"
        + (f" (dropped: {evaluation.dropped})" if evaluation.dropped else ""),
        "",
    ]
    lines.append(f"{'':28}{'full model':>14}{'no neighbours':>16}{'change':>10}")

    def row(label: str, full: float, other: float, fmt: str, change: bool = False) -> None:
        delta = f"{(full - other) / other:+.1%}" if change and other else ""
        lines.append(f"{label:28}{format(full, fmt):>14}{format(other, fmt):>16}{delta:>10}")

    full, base = results["full"], results["no_neighbours"]
    row("share below p25 (low)", full["tail_low"], base["tail_low"], ".1%")
    row("share above p75 (high)", full["tail_high"], base["tail_high"], ".1%")
    row("coverage p25-p75", full["coverage"], base["coverage"], ".1%")
    for q in ("p25", "p50", "p75"):
        row(f"pinball loss {q} ($)", full["pinball"][q], base["pinball"][q], ",.1f", change=True)
    row("median band width ($)", full["median_band_width"], base["median_band_width"], ",.0f", change=True)
    for column in ["bedrooms"] + ([by] if by else []):
        lines += [
            "",
            f"by {column}:",
            f"{'':16}{'n':>8}{'low':>8}{'high':>8}{'pinball p50':>14}{'no-nn p50':>12}",
        ]
        for value, part in evaluation.frame.groupby(column, sort=True).groups.items():
            rows = evaluation.frame.index.get_indexer(part)
            sub_full = model.evaluate_ranges(price[rows], evaluation.bands["full"][rows])
            sub_base = model.evaluate_ranges(price[rows], evaluation.bands["no_neighbours"][rows])
            lines.append(
                f"{str(value)[:16]:16}{len(rows):>8,}{sub_full['tail_low']:>8.1%}"
                f"{sub_full['tail_high']:>8.1%}{sub_full['pinball']['p50']:>14,.1f}"
                f"{sub_base['pinball']['p50']:>12,.1f}"
            )
    return "\n".join(lines)
