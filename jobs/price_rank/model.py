"""Training: neighbour feature, quantile regressions, calibration, metrics, scores.

Prices are modelled on the log scale (rents are right-skewed and their spread
grows with the rent). The rows are cut into five parts. Each fold fits
statsmodels' QuantReg for p25, p50 and p75 on four parts and predicts the fifth,
which its fit never saw; fold 0 is the served model. Each quantile is then shifted
so that its share of prices below it is right over the held-out predictions of
the folds pooled (cross-fitted split-conformal calibration, one-sided per
quantile): on 8,000 listings one 20% part alone put a tail share anywhere from 22%
to 29%. The metrics judge every fold's part with shifts taken from the other
folds only. A big market stops at two folds (20,000 held-out rows are plenty).
"""

from __future__ import annotations

import json
import math
import time
import warnings
from array import array
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from annoy import AnnoyIndex
from statsmodels.regression.quantile_regression import QuantReg
from statsmodels.tools.sm_exceptions import IterationLimitWarning

from models.pricing import (
    MAX_BUCKET,
    QUANTILES,
    SCHEMA,
    UNIT_TYPES,
    ListingFeatures,
    NeighbourIndex,
    Projection,
    bucket_of,
    neighbourhood,
)

LEVELS = {"p25": 0.25, "p50": 0.50, "p75": 0.75}
# QuantReg's iteration cap: the demo market's p25 once needed 1,249 (at 1,000 it stopped short,
# its loss equal to 9 digits, and the metrics said "not converged")
FIT = {"max_iter": 5000, "p_tol": 1e-6}
BUILD_THREADS = 2  # annoy index builds at once (each single-threaded, so the forest is reproducible)
BEDROOM_BUCKETS = [str(i) for i in range(MAX_BUCKET + 1)]
BUCKET_KEYS = [*BEDROOM_BUCKETS, "all"]  # one neighbour index each
ALL_COLUMNS = [
    "const",
    "log_nn_price",
    "bed_0",
    "bed_2",
    "bed_3",
    "bed_4",
    "bathrooms",
    "bathrooms_missing",
    "log_sqft",
    "sqft_missing",
    "furnished",
    "furnished_missing",
    *[f"type_{t}" for t in UNIT_TYPES[1:]],
    "type_missing",
]
FEATURE_COLUMNS = [
    "listing_id",
    "price",
    "bedrooms",
    "bathrooms",
    "sqft",
    "furnished",
    "unit_type",
    "latitude",
    "longitude",
]


@dataclass
class Settings:
    """Model settings (defaults are the production ones)."""

    k: int = 50
    decay_m: float = 1000.0
    # annoy, in 2-d: 5 trees searched for 8 x (k + 1) candidates (stored as the artifact's search_k) find
    # all 50 nearest of a listing learned from and 99% of a place's anywhere around the market, where the
    # 10 trees and annoy's default 10 x (k + 1) of earlier models found 99.6% and 97%, and take a third
    # less time: one estimate 0.08 ms instead of 0.13, a 100k-listing training 12.5 s instead of 15.7
    # (same host, one after the other; the test pins the recall)
    n_trees: int = 5
    search_factor: int = 8
    seed: int = 7
    use_neighbours: bool = True
    parts: int = 5  # each fold fits on all parts but one and predicts that one
    max_fit_rows: int = 20_000  # 18 coefficients need far fewer; bounds the fit time on big markets
    min_held_out: int = 20_000  # folds until this many held-out rows (or every row), at least two

    @property
    def search_k(self) -> int:
        """Candidates annoy examines for one listing's k + 1 nearest (the listing itself may be one)."""
        return self.search_factor * (self.k + 1)


@dataclass
class Trained:
    """A trained model: its spec (model.json), where its buckets live, scores, metrics."""

    spec: dict[str, Any]
    directory: Path
    scores: pd.DataFrame
    metrics: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)


def projection_for(frame: pd.DataFrame) -> Projection:
    """Project around the median position of the market."""
    return Projection(float(frame["latitude"].median()), float(frame["longitude"].median()))


def fills_for(frame: pd.DataFrame) -> dict[str, Any]:
    """Values that stand in for missing bathrooms and sizes (per bedroom bucket), and the median price."""
    buckets = frame["bedrooms"].map(bucket_of)
    log_sqft = np.log(frame["sqft"].where(frame["sqft"] > 0))
    fills: dict[str, Any] = {"price": float(frame["price"].median()), "bathrooms": {}, "log_sqft": {}}
    overall_bath = float(frame["bathrooms"].median()) if frame["bathrooms"].notna().any() else 1.0
    overall_sqft = float(log_sqft.median()) if log_sqft.notna().any() else math.log(700)
    for b in BEDROOM_BUCKETS:
        baths, sizes = frame.loc[buckets == b, "bathrooms"].dropna(), log_sqft[buckets == b].dropna()
        fills["bathrooms"][b] = float(baths.median()) if len(baths) else overall_bath
        fills["log_sqft"][b] = float(sizes.median()) if len(sizes) else overall_sqft
    return fills


def features_of(row: Any) -> ListingFeatures:
    """A frame row as the scorer's ListingFeatures."""

    def missing(value: Any) -> bool:
        return value is None or (isinstance(value, float) and math.isnan(value))

    return ListingFeatures(
        bedrooms=int(row.bedrooms),
        bathrooms=None if missing(row.bathrooms) else float(row.bathrooms),
        sqft=None if missing(row.sqft) else float(row.sqft),
        furnished=None if missing(row.furnished) else bool(row.furnished),
        unit_type=None if missing(row.unit_type) else str(row.unit_type),
        latitude=float(row.latitude),
        longitude=float(row.longitude),
    )


def build_buckets(
    frame: pd.DataFrame, projection: Projection, directory: Path, settings: Settings
) -> dict[str, NeighbourIndex]:
    """One annoy index per bedroom bucket (plus "all"), saved into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    xy = np.array(
        [
            projection.to_metres(lat, lon)
            for lat, lon in zip(frame["latitude"], frame["longitude"], strict=True)
        ]
    )
    keys = frame["bedrooms"].map(bucket_of).to_numpy()
    masks = {key: np.ones(len(frame), bool) if key == "all" else keys == key for key in BUCKET_KEYS}
    indexes = {}
    for key, mask in masks.items():
        index = AnnoyIndex(2, "euclidean")
        index.set_seed(settings.seed)
        for item, (x, y) in enumerate(xy[mask]):
            index.add_item(item, [float(x), float(y)])
        indexes[key] = index
    # Each index is built by one thread, the indexes side by side, largest first ("all" is half the
    # work). annoy's own threads would each seed their share of the trees and append them as they
    # finish, so the same listings could give another forest, other neighbours and another model.
    with ThreadPoolExecutor(max_workers=BUILD_THREADS) as pool:
        largest_first = sorted(indexes.values(), key=lambda index: -index.get_n_items())
        list(pool.map(lambda index: index.build(settings.n_trees, n_jobs=1), largest_first))
    buckets = {}
    for key, mask in masks.items():
        index = indexes[key]
        index.save(str(directory / f"index_{key}.ann"))
        prices = array("d", frame.loc[mask, "price"].astype(float).tolist())
        ids = array("q", frame.loc[mask, "listing_id"].astype(int).tolist())
        (directory / f"prices_{key}.bin").write_bytes(prices.tobytes())
        (directory / f"ids_{key}.bin").write_bytes(ids.tobytes())
        buckets[key] = NeighbourIndex(index, prices, ids, settings.search_k)
    return buckets


def neighbour_prices(
    frame: pd.DataFrame,
    buckets: dict[str, NeighbourIndex],
    projection: Projection,
    settings: Settings,
    fallback: float,
    exclude_self: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """The neighbour price of every row, and whether it is within the market (a listing learned from,
    not itself, within REACH_M), through the serving code (models.pricing)."""
    prices, within = np.empty(len(frame)), np.empty(len(frame), bool)
    for i, row in enumerate(frame.itertuples(index=False)):
        exclude = int(row.listing_id) if exclude_self else None
        around = neighbourhood(
            buckets, projection, settings.k, settings.decay_m, features_of(row), exclude, fallback
        )
        prices[i], within[i] = around.price, around.within_reach
    return prices, within


def design_frame(frame: pd.DataFrame, nn_price: np.ndarray | None, fills: dict[str, Any]) -> pd.DataFrame:
    """Every model column, vectorised (equal to models.pricing.design_row row by row)."""
    buckets = frame["bedrooms"].map(bucket_of)
    bath_missing = frame["bathrooms"].isna()
    sqft_missing = frame["sqft"].isna() | (frame["sqft"] <= 0)
    furnished = frame["furnished"]
    design = pd.DataFrame(index=frame.index)
    design["const"] = 1.0
    if nn_price is not None:
        design["log_nn_price"] = np.log(np.where(nn_price > 0, nn_price, fills["price"]))
    for b in ("0", "2", "3", "4"):
        design[f"bed_{b}"] = (buckets == b).astype(float)
    design["bathrooms"] = (
        frame["bathrooms"].astype(float).where(~bath_missing, buckets.map(fills["bathrooms"]))
    )
    design["bathrooms_missing"] = bath_missing.astype(float)
    safe_sqft = frame["sqft"].astype(float).where(~sqft_missing, 1.0)
    design["log_sqft"] = np.log(safe_sqft).where(~sqft_missing, buckets.map(fills["log_sqft"]))
    design["sqft_missing"] = sqft_missing.astype(float)
    design["furnished"] = furnished.fillna(False).astype(bool).astype(float)
    design["furnished_missing"] = furnished.isna().astype(float)
    for unit_type in UNIT_TYPES[1:]:
        design[f"type_{unit_type}"] = (frame["unit_type"] == unit_type).astype(float)
    design["type_missing"] = frame["unit_type"].isna().astype(float)
    return design.astype(float)


def usable_columns(design: pd.DataFrame) -> list[str]:
    """Drop columns that never vary in the fit data (they would make the fit singular)."""
    return [c for c in design.columns if c == "const" or design[c].nunique() > 1]


def fit_quantiles(
    design: pd.DataFrame, log_price: np.ndarray
) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """statsmodels quantile regression for each quantile: coefficients by column name, and fit facts."""
    params, facts = {}, {}
    for q, level in LEVELS.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", IterationLimitWarning)
            # the fit also estimates its covariance, which nook never reads; where every price is
            # fitted exactly (one rent for every flat) that divides by a zero residual density
            warnings.filterwarnings("ignore", category=RuntimeWarning, module=QuantReg.__module__)
            result = QuantReg(log_price, design.to_numpy()).fit(q=level, **FIT)
        params[q] = dict(zip(design.columns, (float(v) for v in result.params), strict=True))
        facts[q] = {
            "iterations": int(getattr(result, "iterations", -1)),
            "converged": not any(issubclass(w.category, IterationLimitWarning) for w in caught),
        }
    return params, facts


def predict_log(design: pd.DataFrame, coefficients: dict[str, dict[str, float]]) -> dict[str, np.ndarray]:
    """Raw log-price quantiles for every row."""
    columns = list(next(iter(coefficients.values())))
    matrix = design[columns].to_numpy()
    return {q: matrix @ np.array([coefficients[q][c] for c in columns]) for q in QUANTILES}


def served(raw: dict[str, np.ndarray], shifts: dict[str, float]) -> np.ndarray:
    """Calibrated, sorted (non-crossing) dollar quantiles in whole cents (models.pricing.in_cents):
    shape (n, 3)."""
    stacked = np.column_stack([np.exp(raw[q] + shifts.get(q, 0.0)) for q in QUANTILES])
    return np.rint(np.sort(stacked, axis=1) * 100) / 100


def calibration_shifts(residuals: list[dict[str, np.ndarray]]) -> dict[str, float]:
    """Per quantile, the log shift that puts the right share of held-out prices below it: a quantile of
    the held-out residuals (log price minus raw quantile) of the given folds, pooled."""
    return {q: float(np.quantile(np.concatenate([r[q] for r in residuals]), LEVELS[q])) for q in QUANTILES}


def pinball(price: np.ndarray, quantile: np.ndarray, level: float) -> float:
    """Mean pinball (quantile) loss in dollars."""
    diff = price - quantile
    return float(np.mean(np.maximum(level * diff, (level - 1) * diff)))


def evaluate_ranges(price: np.ndarray, bands: np.ndarray) -> dict[str, Any]:
    """Tail shares, coverage, pinball losses and band width of served ranges against prices."""
    p25, p50, p75 = bands[:, 0], bands[:, 1], bands[:, 2]
    return {
        "n": int(len(price)),
        "tail_low": float(np.mean(price < p25)) if len(price) else math.nan,
        "tail_high": float(np.mean(price > p75)) if len(price) else math.nan,
        "coverage": float(np.mean((price >= p25) & (price <= p75))) if len(price) else math.nan,
        "pinball": {q: pinball(price, bands[:, i], LEVELS[q]) for i, q in enumerate(QUANTILES)},
        "median_band_width": float(np.median(p75 - p25)) if len(price) else math.nan,
        "median_relative_band_width": float(np.median((p75 - p25) / p50)) if len(price) else math.nan,
    }


def fold_rows(learnable: np.ndarray, settings: Settings, fold: int) -> tuple[np.ndarray, np.ndarray]:
    """A fold's fit rows (the other parts, at most max_fit_rows) and held-out rows (its own part) among
    the learnable ones: one shuffled order cut into `settings.parts` parts. Fold 0 is the served model."""
    order = learnable[np.random.default_rng(settings.seed).permutation(len(learnable))]
    parts = np.array_split(order, settings.parts)
    fit = np.concatenate([part for i, part in enumerate(parts) if i != fold])
    return fit[: settings.max_fit_rows], parts[fold]


def fold_count(n: int, settings: Settings) -> int:
    """How many folds to fit: enough for min_held_out held-out rows, at most one per part, and at least
    two, so that every fold can be judged with the shifts of the others."""
    per_fold = max(1, n // settings.parts)
    return max(2, min(settings.parts, math.ceil(settings.min_held_out / per_fold)))


@dataclass
class Fold:
    """Quantile regressions fitted without one part, and what they predict for that part."""

    columns: list[str]
    coefficients: dict[str, dict[str, float]]
    facts: dict[str, Any]
    n_fit: int
    rows: np.ndarray  # the held-out part
    raw: dict[str, np.ndarray]  # raw log quantiles of those rows
    residuals: dict[str, np.ndarray]  # their log prices minus the raw quantiles


def fit_fold(
    design: pd.DataFrame, log_price: np.ndarray, learnable: np.ndarray, settings: Settings, fold: int
) -> Fold:
    """Fit on the fold's fit rows; predict its held-out part."""
    fit_rows, rows = fold_rows(learnable, settings, fold)
    columns = usable_columns(design.iloc[fit_rows])
    coefficients, facts = fit_quantiles(design.iloc[fit_rows][columns], log_price[fit_rows])
    raw = predict_log(design.iloc[rows], coefficients)
    residuals = {q: log_price[rows] - raw[q] for q in QUANTILES}
    return Fold(columns, coefficients, facts, len(fit_rows), rows, raw, residuals)


def held_out_metrics(folds: list[Fold], price: np.ndarray) -> dict[str, Any]:
    """Every fold's part judged with shifts from the other folds' parts only (never its own), pooled;
    calibrated and not."""
    calibrated, uncalibrated = [], []
    for i, fold in enumerate(folds):
        shifts = calibration_shifts([other.residuals for j, other in enumerate(folds) if j != i])
        calibrated.append(served(fold.raw, shifts))
        uncalibrated.append(served(fold.raw, {}))
    rows = np.concatenate([fold.rows for fold in folds])
    return {
        **evaluate_ranges(price[rows], np.concatenate(calibrated)),
        "folds": len(folds),
        "n_test": len(rows),
        "uncalibrated": evaluate_ranges(price[rows], np.concatenate(uncalibrated)),
    }


def labels_for(price: np.ndarray, bands: np.ndarray) -> np.ndarray:
    """low / typical / high for each row."""
    return np.where(price < bands[:, 0], "low", np.where(price > bands[:, 2], "high", "typical"))


def train(frame: pd.DataFrame, directory: Path, version: str, settings: Settings | None = None) -> Trained:
    """Fit, calibrate, evaluate and score; write the artifact (model.json + buckets) to `directory`.

    Rows marked `outlier` are scored but neither indexed as neighbours nor learned from.
    """
    settings = settings or Settings()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    frame = frame.reset_index(drop=True)
    learn = ~frame["outlier"].astype(bool) if "outlier" in frame else pd.Series(True, index=frame.index)
    if int(learn.sum()) < 50:
        raise ValueError(f"need at least 50 listings to train, got {int(learn.sum())}")
    projection, fills = projection_for(frame[learn]), fills_for(frame[learn])
    nn, within = None, np.ones(len(frame), bool)
    if settings.use_neighbours:
        buckets = build_buckets(frame[learn], projection, directory, settings)
        timings["index"] = time.perf_counter() - started
        nn, within = neighbour_prices(frame, buckets, projection, settings, fills["price"], exclude_self=True)
        timings["neighbours"] = time.perf_counter() - started - sum(timings.values())
    design = design_frame(frame, nn, fills)
    price = frame["price"].to_numpy(float)
    log_price = np.log(price)
    learnable = np.flatnonzero(learn.to_numpy())
    count = fold_count(len(learnable), settings)
    folds = [fit_fold(design, log_price, learnable, settings, fold) for fold in range(count)]
    timings["fit"] = time.perf_counter() - started - sum(timings.values())
    columns, coefficients = folds[0].columns, folds[0].coefficients
    shifts = calibration_shifts([fold.residuals for fold in folds])
    bands = served(predict_log(design, coefficients), shifts)
    held_out = held_out_metrics(folds, price)
    timings["evaluate"] = time.perf_counter() - started - sum(timings.values())
    metrics = {
        **held_out,
        "n_total": len(frame),
        "n_outliers": int((~learn).sum()),
        "n_outside_market": int((~within).sum()),
        "n_fit": folds[0].n_fit,
        "n_calibration": held_out["n_test"],
        "fit": folds[0].facts,
        "calibration": {
            "method": "cross-fitted split-conformal: the listings cut into "
            f"{settings.parts} parts; each of {held_out['folds']} folds fits the quantile regressions on "
            f"the other parts (at most {settings.max_fit_rows:,} listings) and predicts its own part; the "
            "served model is fold 0's, each quantile shifted (log scale) so its share of prices below it "
            f"is right over the {held_out['n_test']:,} held-out predictions pooled; metrics judge each "
            "fold's part with the shifts of the other folds only; quantiles sorted so they never cross",
            "shifts": shifts,
        },
    }
    spec = {
        "schema": SCHEMA,
        "version": version,
        "columns": columns,
        "coefficients": coefficients,
        "calibration": {"shifts": shifts},
        "fills": fills,
        "projection": {"lat0": projection.lat0, "lon0": projection.lon0},
        "neighbours": {
            "k": settings.k,
            "decay_m": settings.decay_m,
            "n_trees": settings.n_trees,
            "search_k": settings.search_k,
            "buckets": list(BUCKET_KEYS) if nn is not None else [],
        },
        "metrics": metrics,
    }
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.json").write_text(json.dumps(spec, indent=1))
    # a listing outside the market (no other listing learned from within REACH_M) is not ranked
    ranked = np.where(within[:, None], bands, np.nan)
    scores = pd.DataFrame(
        {
            "listing_id": frame["listing_id"].astype("int64"),
            "p25": ranked[:, 0],
            "p50": ranked[:, 1],
            "p75": ranked[:, 2],
            "label": pd.Series(labels_for(price, bands), dtype=object).where(within, None),
        }
    )
    timings["total"] = time.perf_counter() - started
    return Trained(spec, directory, scores, metrics, timings)
