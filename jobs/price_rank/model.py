"""Training: neighbour feature, quantile regressions, calibration, metrics, scores.

Prices are modelled on the log scale (rents are right-skewed and their spread
grows with the rent). The rows are split into fit / calibration / test parts.
statsmodels' QuantReg fits p25, p50 and p75 on the fit part; on the held-out
calibration part each quantile gets the shift that makes its share of prices
below it right (split-conformal calibration, one-sided per quantile); the test
part, untouched by both, gives the reported metrics. One test part of a small
market is too few rows to judge calibration by (on 8,000 listings its tail shares
swing +-1.6 points from split to split), so the same fit-and-calibrate is repeated
with the other parts held out in turn until the metrics pool enough held-out rows.
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
    neighbour_price,
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
    n_trees: int = 10
    seed: int = 7
    use_neighbours: bool = True
    split: tuple[float, float, float] = (0.6, 0.2, 0.2)  # fit, calibrate, test
    max_fit_rows: int = 20_000  # 18 coefficients need far fewer; bounds the fit time on big markets
    min_held_out: int = 20_000  # metrics pool folds until this many held-out rows (or every row)


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
        buckets[key] = NeighbourIndex(index, prices, ids)
    return buckets


def neighbour_prices(
    frame: pd.DataFrame,
    buckets: dict[str, NeighbourIndex],
    projection: Projection,
    settings: Settings,
    fallback: float,
    exclude_self: bool,
) -> np.ndarray:
    """The neighbour price of every row, through the serving code (models.pricing)."""
    out = np.empty(len(frame))
    for i, row in enumerate(frame.itertuples(index=False)):
        exclude = int(row.listing_id) if exclude_self else None
        out[i] = neighbour_price(
            buckets, projection, settings.k, settings.decay_m, features_of(row), exclude, fallback
        )
    return out


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
    """Calibrated, sorted (non-crossing) dollar quantiles: shape (n, 3)."""
    stacked = np.column_stack([np.exp(raw[q] + shifts.get(q, 0.0)) for q in QUANTILES])
    return np.sort(stacked, axis=1)


def calibration_shifts(raw: dict[str, np.ndarray], log_price: np.ndarray) -> dict[str, float]:
    """Per quantile, the log shift that puts the right share of held-out prices below it."""
    return {q: float(np.quantile(log_price - raw[q], LEVELS[q])) for q in QUANTILES}


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


def split_rows(n: int, settings: Settings, fold: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random fit / calibration / test row positions. Fold 0 is the served model's split; each further
    fold holds out the next part of the same shuffled order, so the test parts never overlap."""
    fit_end, cal_end = _part_ends(n, settings)
    order = np.roll(np.random.default_rng(settings.seed).permutation(n), fold * (n - cal_end))
    return order[:fit_end], order[fit_end:cal_end], order[cal_end:]


def _part_ends(n: int, settings: Settings) -> tuple[int, int]:
    """Where the fit part and the calibration part end among n rows (the test part is the rest)."""
    fit_end = int(round(n * settings.split[0]))
    return fit_end, fit_end + int(round(n * settings.split[1]))


def fold_count(n: int, settings: Settings) -> int:
    """How many folds split_rows can hold out without overlap, and the metrics need."""
    test = n - _part_ends(n, settings)[1]
    if test <= 0:
        return 1
    return max(1, min(n // test, math.ceil(settings.min_held_out / test)))


def fold_rows(learnable: np.ndarray, settings: Settings, fold: int) -> tuple[np.ndarray, ...]:
    """A fold's fit (at most max_fit_rows), calibration and test rows among the learnable ones."""
    fit, cal, test = (learnable[part] for part in split_rows(len(learnable), settings, fold))
    return fit[: settings.max_fit_rows], cal, test


@dataclass
class Fitted:
    """One fit-and-calibrate: the columns used, coefficients per quantile, fit facts and shifts."""

    columns: list[str]
    coefficients: dict[str, dict[str, float]]
    facts: dict[str, Any]
    shifts: dict[str, float]

    def bands(self, design: pd.DataFrame, calibrated: bool = True) -> np.ndarray:
        """Served dollar quantiles of the rows of `design`."""
        return served(predict_log(design, self.coefficients), self.shifts if calibrated else {})


def fit_and_calibrate(
    design: pd.DataFrame, log_price: np.ndarray, fit_rows: np.ndarray, cal_rows: np.ndarray
) -> Fitted:
    """Quantile regressions on the fit rows, shifted to be right on the calibration rows."""
    columns = usable_columns(design.iloc[fit_rows])
    coefficients, facts = fit_quantiles(design.iloc[fit_rows][columns], log_price[fit_rows])
    raw = predict_log(design.iloc[cal_rows], coefficients)
    return Fitted(columns, coefficients, facts, calibration_shifts(raw, log_price[cal_rows]))


def held_out_metrics(
    design: pd.DataFrame,
    price: np.ndarray,
    log_price: np.ndarray,
    learnable: np.ndarray,
    settings: Settings,
    first: Fitted,
) -> dict[str, Any]:
    """Metrics over the test parts of as many folds as fold_count asks for (fold 0 is `first`, the
    served model), calibrated and not."""
    folds = fold_count(len(learnable), settings)
    tested, calibrated, uncalibrated = [], [], []
    for fold in range(folds):
        fit_rows, cal_rows, test_rows = fold_rows(learnable, settings, fold)
        fitted = first if fold == 0 else fit_and_calibrate(design, log_price, fit_rows, cal_rows)
        tested.append(test_rows)
        calibrated.append(fitted.bands(design.iloc[test_rows]))
        uncalibrated.append(fitted.bands(design.iloc[test_rows], calibrated=False))
    rows = np.concatenate(tested)
    return {
        **evaluate_ranges(price[rows], np.concatenate(calibrated)),
        "folds": folds,
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
    nn = None
    if settings.use_neighbours:
        buckets = build_buckets(frame[learn], projection, directory, settings)
        timings["index"] = time.perf_counter() - started
        nn = neighbour_prices(frame, buckets, projection, settings, fills["price"], exclude_self=True)
        timings["neighbours"] = time.perf_counter() - started - sum(timings.values())
    design = design_frame(frame, nn, fills)
    price = frame["price"].to_numpy(float)
    log_price = np.log(price)
    learnable = np.flatnonzero(learn.to_numpy())
    fit_rows, cal_rows, _ = fold_rows(learnable, settings, 0)
    fitted = fit_and_calibrate(design, log_price, fit_rows, cal_rows)
    timings["fit"] = time.perf_counter() - started - sum(timings.values())
    columns, coefficients, shifts = fitted.columns, fitted.coefficients, fitted.shifts
    bands = fitted.bands(design)
    held_out = held_out_metrics(design, price, log_price, learnable, settings, fitted)
    timings["evaluate"] = time.perf_counter() - started - sum(timings.values())
    metrics = {
        **held_out,
        "n_total": len(frame),
        "n_outliers": int((~learn).sum()),
        "n_fit": len(fit_rows),
        "n_calibration": len(cal_rows),
        "fit": fitted.facts,
        "calibration": {
            "method": "split-conformal: quantile regression fitted on 60% of listings (at most "
            f"{settings.max_fit_rows:,}); each quantile shifted (log scale) so its share of prices "
            "below it is right on a held-out 20%; metrics on the remaining 20%, and on the other "
            f"20% parts in turn (each with its own fit and calibration) until {settings.min_held_out:,} "
            f"held-out listings or every listing: {held_out['folds']} fold(s), {held_out['n_test']:,} "
            "listings; quantiles sorted so they never cross",
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
            "buckets": list(BUCKET_KEYS) if nn is not None else [],
        },
        "metrics": metrics,
    }
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.json").write_text(json.dumps(spec, indent=1))
    scores = pd.DataFrame(
        {
            "listing_id": frame["listing_id"].astype("int64"),
            "p25": bands[:, 0],
            "p50": bands[:, 1],
            "p75": bands[:, 2],
            "label": labels_for(price, bands),
        }
    )
    timings["total"] = time.perf_counter() - started
    return Trained(spec, directory, scores, metrics, timings)
