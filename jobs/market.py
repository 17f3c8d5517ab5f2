"""Market activity and forecast: how fast is an area moving, and what is coming?

For every user region and the whole city: daily counts of new listings (all,
and by bedrooms) with days without listings as zeros, and the median asking
price of the trailing 28 days. Counts are forecast 14 days ahead with a
negative-binomial GLM (day-of-week effects and a trend, fitted on the last 6
weeks) — counts are small, overdispersed and weekly-seasonal; the backtest
(`flask market backtest`) compares it with seasonal naive. 80% intervals come
from simulating the fitted model — coefficients drawn from their estimated
distribution, then negative-binomial counts — so the next-7-days total gets a
proper interval too; each day's is the integer interval nearest 80%. The price is forecast with a
damped-trend ETS model, its interval at least that of the median of the last window's listings
(order statistics), and not at all from fewer than three listings. Results replace the window they cover in
market_points, so re-running a day changes nothing. Areas go stalest first, and a run that reaches
Lambda's time stops and commits what it did: the next run takes up the rest first.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import bindparam, delete, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.types import Text

from jobs.runtime import budget_deadline, past, report_progress, run_job
from models.documents import compact
from models.market import BED_BUCKETS, MarketPoint, series_key
from models.matching import DEDUPE_METRES, DEGREES_PER_METRE, PRICE_TOLERANCE
from models.region import Region

log = logging.getLogger("nook.market")

HORIZON = 14
HISTORY_DAYS = 120  # fitted on
STORED_HISTORY_DAYS = 56  # kept for the API
FIT_DAYS = 42  # 6 weeks: long enough for day-of-week effects, short enough to follow the level
PRICE_WINDOW = 28
LEVEL = 0.8
COVERAGE_TARGET = 0.05  # the backtest's coverage must land within LEVEL ± this
COUNT_MODEL = "negbin-glm(dow+trend, 6w)"
QUIET_COUNT_MODEL = "negbin-glm(constant, 6w)"
MIN_ACTIVE_DAYS = 14  # days with listings in the fitted 6 weeks for the day-of-week model
SIMULATIONS = 4000
MIN_ALPHA = 1e-3  # below this dispersion, Poisson
PRICE_MODEL = "ets(add, damped trend)"
MIN_PRICE_LISTINGS = 3  # in the last window: a median of one or two listings is no market price

# A listing is new on the day it was posted unless it re-posts a unit seen in the
# 30 days before: a cross-source duplicate (whatever its canonical_id says today) or
# a landlord's delete-and-re-post. Same rule as duplicate detection (same bedrooms
# and bathrooms, within 10 m, price within 3%), applied across every status.
POSTED_SQL = """
CREATE TEMP TABLE market_posted ON COMMIT DROP AS
SELECT l.id, l.posted_at, least(l.bedrooms, 4) AS beds, l.bedrooms, l.bathrooms, l.price, l.geom
FROM listings l
WHERE l.status IN ('active', 'delisted', 'expired') AND l.geom IS NOT NULL
  AND l.posted_at >= :start - make_interval(days => :repost_days) AND l.posted_at < :end
"""
NEW_LISTINGS_SQL = """
CREATE TEMP TABLE market_new ON COMMIT DROP AS
SELECT l.id, (l.posted_at AT TIME ZONE 'UTC')::date AS day, l.beds, l.price, l.geom
FROM market_posted l
LEFT JOIN LATERAL (  -- LATERAL + LIMIT 1: an index probe per listing, never a hash join on bedrooms
  SELECT 1 AS hit FROM market_posted p
  WHERE p.geom && ST_Expand(l.geom, :degrees)
    AND p.bedrooms = l.bedrooms
    AND p.bathrooms IS NOT DISTINCT FROM l.bathrooms
    AND abs(p.price - l.price) <= :tolerance * greatest(p.price, l.price)
    AND p.posted_at >= l.posted_at - make_interval(days => :repost_days)
    AND (p.posted_at, p.id) < (l.posted_at, l.id)
    AND ST_DWithin(p.geom::geography, l.geom::geography, :metres)
  LIMIT 1
) earlier ON true
WHERE l.posted_at >= :start AND earlier.hit IS NULL
"""
REGION_ROWS_SQL = """
SELECT r.id AS region_id, n.day, n.beds, n.price
FROM regions r JOIN market_new n ON ST_Contains(r.geom, n.geom)
WHERE r.id = ANY(:regions)
"""
REPOST_DAYS = 30
REGION_CHUNK = 100  # regions whose listings are read at once
# an area's ~800 points as one JSON document: one parameter to send and one plan (as a multi-row VALUES
# of eight parameters a point, compiling and binding them took 160 ms an area)
UPSERT_POINTS = text("""
INSERT INTO market_points (series_key, day, kind, value, low, high, model, trained_at)
SELECT series_key, day, kind, value, low, high, model, trained_at
FROM json_to_recordset(CAST(:rows AS json)) AS p(
    series_key text, day date, kind text, value float8, low float8, high float8, model text,
    trained_at timestamptz
)
ON CONFLICT (series_key, day) DO UPDATE SET
    kind = EXCLUDED.kind, value = EXCLUDED.value, low = EXCLUDED.low, high = EXCLUDED.high,
    model = EXCLUDED.model, trained_at = EXCLUDED.trained_at
""")


@dataclass
class Series:
    """Daily history of one area, every day present: new-listing counts by bedrooms
    (zeros where nothing was posted) and the median asking price of the trailing 28 days."""

    counts: pd.DataFrame  # index: day; columns: BED_BUCKETS
    price: pd.DataFrame  # index: day; columns: BED_BUCKETS; NaN where the window had no listing
    recent: dict[str, np.ndarray] = field(default_factory=dict)  # the last day's window's prices, by bucket


def load_new_listings(session: Session, start: date, end: date) -> pd.DataFrame:
    """New listings (re-posts left out) posted in [start - 28 days, end), city-wide: day, beds, price.

    Leaves them in the transaction's temp table market_new for region_rows()."""
    params = {
        "start": datetime.combine(start - timedelta(days=PRICE_WINDOW), time(), UTC),
        "end": datetime.combine(end, time(), UTC),
        "degrees": DEDUPE_METRES * DEGREES_PER_METRE,
        "metres": DEDUPE_METRES,
        "tolerance": PRICE_TOLERANCE,
        "repost_days": REPOST_DAYS,
    }
    session.execute(text("DROP TABLE IF EXISTS market_posted, market_new"))
    session.execute(text(POSTED_SQL), params)
    session.execute(text("CREATE INDEX ON market_posted USING gist (geom)"))
    session.execute(text("ANALYZE market_posted"))
    session.execute(text(NEW_LISTINGS_SQL), params)
    session.execute(text("CREATE INDEX ON market_new USING gist (geom)"))
    session.execute(text("ANALYZE market_new"))
    rows = session.execute(text("SELECT day, beds, price FROM market_new")).all()
    return pd.DataFrame(rows, columns=["day", "beds", "price"])


def region_rows(session: Session, regions: list[int]) -> dict[int, pd.DataFrame]:
    """The new listings inside each region (after load_new_listings), by region id."""
    rows = session.execute(text(REGION_ROWS_SQL), {"regions": regions}).all()
    frame = pd.DataFrame(rows, columns=["region_id", "day", "beds", "price"])
    grouped = {int(k): g.drop(columns="region_id") for k, g in frame.groupby("region_id")}
    return {rid: grouped.get(rid, frame.iloc[:0].drop(columns="region_id")) for rid in regions}


def build_series(listings: pd.DataFrame, start: date, end: date) -> Series:
    """An area's daily series for [start, end) from its new listings (columns day, beds, price)."""
    days = pd.Index(pd.date_range(start, end - timedelta(days=1), freq="D").date, name="day")
    frame = listings.assign(bucket=listings["beds"].map(lambda b: "4+" if b >= 4 else str(int(b))))
    counts = pd.DataFrame(0, index=days, columns=list(BED_BUCKETS), dtype="int64")
    in_range = frame[(frame["day"] >= start) & (frame["day"] < end)]
    for bucket, group in in_range.groupby("bucket"):
        counts[bucket] = group.groupby("day").size().reindex(days, fill_value=0).astype("int64")
    counts["all"] = counts[list(BED_BUCKETS[1:])].sum(axis=1)
    # each day's window is a run of the listings in day order: two binary searches a day find it (a
    # mask over all of an area's listings a day and a cell written at a time took 80 ms an area)
    ordinal = np.asarray([d.toordinal() for d in frame["day"]], dtype=np.int64)
    order = np.argsort(ordinal, kind="stable")
    ordinal, prices = ordinal[order], frame["price"].to_numpy(dtype=float)[order]
    buckets = frame["bucket"].to_numpy()[order]
    ends = np.asarray([d.toordinal() for d in days], dtype=np.int64)
    medians = np.full((len(days), len(BED_BUCKETS)), np.nan)
    recent: dict[str, np.ndarray] = {}
    for column, bucket in enumerate(BED_BUCKETS):
        chosen = slice(None) if bucket == "all" else buckets == bucket
        when, asked = ordinal[chosen], prices[chosen]
        first = np.searchsorted(when, ends - PRICE_WINDOW, side="right")  # posted after the window opens
        last = np.searchsorted(when, ends, side="right")  # ... and by the end of the day
        for row, (a, b) in enumerate(zip(first, last, strict=True)):
            if b > a:
                medians[row, column] = np.median(asked[a:b])
        if len(days):
            recent[bucket] = asked[first[-1] : last[-1]]
    price = pd.DataFrame(medians, index=days, columns=list(BED_BUCKETS))
    return Series(counts, price, recent)


def _design(days: np.ndarray, start: int) -> np.ndarray:
    """const, trend (weeks), day-of-week dummies (Monday is the baseline)."""
    t = (days - start) / 7.0
    dow = np.asarray([(start + int(d)) % 7 for d in days])
    dummies = np.column_stack([(dow == k).astype(float) for k in range(1, 7)])
    return np.column_stack([np.ones(len(days)), t, dummies])


def forecast_counts(history: pd.Series, horizon: int = HORIZON, seed: int = 0) -> pd.DataFrame:
    """Daily forecast (mean, 80% low/high) and the simulated next-7-days total.

    A quiet series (listings on fewer than MIN_ACTIVE_DAYS of the fitted days) cannot support eight
    parameters: it gets the same model with a constant rate only. daily.attrs["model"] names which."""
    import statsmodels.api as sm

    y = history.to_numpy(dtype=float)[-FIT_DAYS:]
    first_day = history.index[-len(y)]
    weekday0 = pd.Timestamp(first_day).weekday()
    X = _design(np.arange(len(y)), weekday0)
    future = _design(np.arange(len(y), len(y) + horizon), weekday0)
    model_name = COUNT_MODEL
    if int((y > 0).sum()) < MIN_ACTIVE_DAYS:
        X, future, model_name = X[:, :1], future[:, :1], QUIET_COUNT_MODEL
    if y.sum() == 0:
        zeros = np.zeros(horizon)
        daily = pd.DataFrame({"value": zeros, "low": zeros, "high": zeros})
        daily.attrs["model"] = model_name
        return daily, (0.0, 0.0, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # perfect-separation and convergence chatter on tiny series
        poisson = sm.GLM(y, X, family=sm.families.Poisson()).fit()
        mu_fit = poisson.mu
        # NB2 dispersion by moments, Var = mu + alpha mu^2, with each squared residual scaled up by
        # 1 / (1 - leverage): fitted values hug the data, and without this small counts look Poisson
        leverage = np.clip(poisson.get_hat_matrix_diag(), 0, 0.99)
        alpha = float(np.sum((y - mu_fit) ** 2 / (1 - leverage) - mu_fit) / np.sum(mu_fit**2))
        if alpha > MIN_ALPHA:
            fitted = sm.GLM(y, X, family=sm.families.NegativeBinomial(alpha=alpha)).fit()
        else:  # no overdispersion to speak of: the Poisson fit is the model
            fitted = poisson
    # a trend fitted on 6 weeks must not run away over the next 2
    cap = 3 * max(float(y.max()), 1.0)
    mu = np.clip(fitted.predict(future), 0, cap)
    rng = np.random.default_rng(seed)
    # the coefficients are estimates too: each simulated path draws its own
    betas = rng.multivariate_normal(fitted.params, fitted.cov_params(), size=SIMULATIONS, method="cholesky")
    with np.errstate(over="ignore"):  # a wild draw's rate overflows to infinity: capped like the rest
        paths = np.clip(np.exp(betas @ future.T), 0, cap)
    if alpha > MIN_ALPHA:
        n = 1.0 / alpha
        draws = rng.negative_binomial(n, n / (n + paths))
    else:
        draws = rng.poisson(paths)
    low, high = _interval(draws)
    week = draws[:, :7].sum(axis=1)
    total = (float(mu[:7].sum()), float(np.quantile(week, 0.1)), float(np.quantile(week, 0.9)))
    daily = pd.DataFrame({"value": mu, "low": low, "high": high})
    daily.attrs["model"] = model_name
    return daily, total


def _interval(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column, the integer interval around the 10th-90th percentiles whose simulated probability
    is nearest LEVEL: counts are discrete, and plain quantiles over-cover small counts."""
    tail = (1 - LEVEL) / 2
    q_low, q_high = np.quantile(draws, [tail, 1 - tail], axis=0, method="lower")
    best_low, best_high = q_low.copy(), q_high.copy()
    best_gap = np.full(draws.shape[1], np.inf)
    for low in (q_low, q_low + 1):
        for high in (q_high - 1, q_high):
            valid = low <= high
            gap = np.abs(((draws >= low) & (draws <= high)).mean(axis=0) - LEVEL)
            better = valid & (gap < best_gap - 1e-9)
            best_low, best_high = np.where(better, low, best_low), np.where(better, high, best_high)
            best_gap = np.where(better, gap, best_gap)
    return best_low.astype(float), best_high.astype(float)


def median_interval(prices: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """A distribution-free interval for the median of the population `prices` were drawn from: the
    order statistics x(j) and x(n+1-j) with the largest j whose coverage, 1 - 2 P(Binomial(n, 1/2) < j),
    is at least `level` (the sample's extremes when none is)."""
    from scipy.stats import binom

    ordered = np.sort(np.asarray(prices, dtype=float))
    n = len(ordered)
    below = int(binom.ppf((1 - level) / 2, n, 0.5))  # P(Bin <= below) >= (1 - level) / 2
    if binom.cdf(below, n, 0.5) > (1 - level) / 2:
        below -= 1
    j = max(below + 1, 1)  # 1-based: P(Bin <= j - 1) <= (1 - level) / 2
    return float(ordered[j - 1]), float(ordered[n - j])


def forecast_price(
    history: pd.Series, recent: np.ndarray | None = None, horizon: int = HORIZON
) -> pd.DataFrame:
    """Daily forecast of the trailing median price with an 80% interval (empty if too little data).

    The ETS interval follows the series, and a series of medians is smooth: where it has not moved
    (a small region where every listing asked $2,150) the interval had no width at all. `recent`, the
    prices in the last window, sets a floor: the interval covers at least the interval of their
    median (and with fewer than MIN_PRICE_LISTINGS of them there is no forecast)."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    observed = history.dropna()
    if len(observed) < 21 or (recent is not None and len(recent) < MIN_PRICE_LISTINGS):
        return pd.DataFrame(columns=["value", "low", "high"])
    series = pd.Series(np.log(history.ffill().bfill().to_numpy(dtype=float)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = ETSModel(series, error="add", trend="add", damped_trend=True).fit(disp=False)
        frame = fitted.get_prediction(start=len(series), end=len(series) + horizon - 1).summary_frame(
            alpha=1 - LEVEL
        )
    value, low, high = (np.exp(frame[c].to_numpy()) for c in ("mean", "pi_lower", "pi_upper"))
    if recent is not None:
        floor, ceiling = median_interval(recent)
        low, high = np.minimum(low, floor), np.maximum(high, ceiling)
    return pd.DataFrame({"value": value, "low": np.minimum(low, value), "high": np.maximum(high, value)})


def seasonal_naive(history: pd.Series, horizon: int = HORIZON) -> np.ndarray:
    """The last observed week, repeated."""
    last_week = history.to_numpy(dtype=float)[-7:]
    return np.asarray([last_week[h % 7] for h in range(horizon)])


def backtest(history: pd.Series, weeks: int = 8, horizon: int = HORIZON) -> dict[str, float]:
    """Roll the origin back week by week: interval coverage and MAE of the model vs seasonal naive."""
    covered = total = 0
    errors_model, errors_naive = [], []
    for k in range(weeks, 0, -1):
        origin = len(history) - horizon - 7 * (k - 1)
        if origin < FIT_DAYS:
            continue
        past, actual = history.iloc[:origin], history.to_numpy(dtype=float)[origin : origin + horizon]
        daily, _ = forecast_counts(past, horizon=len(actual), seed=k)
        covered += int(((actual >= daily["low"].to_numpy()) & (actual <= daily["high"].to_numpy())).sum())
        total += len(actual)
        errors_model += list(np.abs(actual - daily["value"].to_numpy()))
        errors_naive += list(np.abs(actual - seasonal_naive(past, len(actual))))
    if not total:
        raise ValueError(f"not enough history to backtest: need {FIT_DAYS + HORIZON} days or more")
    return {
        "origins": weeks,
        "days": total,
        "coverage": covered / total,
        "mae_model": float(np.mean(errors_model)),
        "mae_seasonal_naive": float(np.mean(errors_naive)),
    }


def backtest_area(
    session: Session,
    today: date,
    days: int = 150,
    region_id: int | None = None,
    beds: str = "all",
    weeks: int = 8,
) -> dict[str, float]:
    """backtest() on the new-listing counts of the city (or a region) over the last `days` days."""
    return backtest_splits(session, today, days, region_id, [beds], weeks)[beds]


def backtest_splits(
    session: Session,
    today: date,
    days: int,
    region_id: int | None,
    splits: Sequence[str],
    weeks: int,
) -> dict[str, dict[str, float]]:
    """backtest() for each bedroom split of one area (splits with no listings left out)."""
    start = today - timedelta(days=days)
    rows = load_new_listings(session, start, today)
    if region_id is not None:
        rows = region_rows(session, [region_id])[region_id]
    counts = build_series(rows, start, today).counts
    results = {split: backtest(counts[split], weeks=weeks) for split in splits if counts[split].any()}
    if not results:
        raise ValueError(f"no new listings here in the last {days} days: nothing to backtest")
    return results


def pooled(results: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Coverage over every forecast day of several backtests (one series' coverage over a few months
    is noisy: ±6 points around the truth even for a correct model), and in how many the model wins."""
    days = sum(r["days"] for r in results.values())
    return {
        "series": len(results),
        "days": days,
        "coverage": sum(r["coverage"] * r["days"] for r in results.values()) / days,
        "model_wins": sum(r["mae_model"] < r["mae_seasonal_naive"] for r in results.values()),
    }


def _number(value: Any) -> float | None:
    """A point's value, low or high: None where there is no number (NaN, or an overflowed infinity)."""
    if pd.isna(value):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _points(
    key: str, days: list[date], frame: pd.DataFrame, kind: str, model: str | None, now: datetime
) -> list[dict[str, Any]]:
    out = []
    for day, row in zip(days, frame.itertuples(index=False), strict=True):
        out.append(
            {
                "series_key": key,
                "day": day,
                "kind": kind,
                "value": _number(row.value),
                "low": None if kind == "history" else _number(row.low),
                "high": None if kind == "history" else _number(row.high),
                "model": model,
                "trained_at": now,
            }
        )
    return out


def area_points(series: Series, scope: str, today: date, now: datetime) -> list[dict[str, Any]]:
    """Every market point of one area: the recent history and the forecast of each series."""
    shown = series.counts.index[-STORED_HISTORY_DAYS:]
    future = [today + timedelta(days=h) for h in range(HORIZON)]
    empty = {"low": None, "high": None}
    points: list[dict[str, Any]] = []
    for beds in BED_BUCKETS:
        history = series.counts[beds]
        key = series_key(scope, "new", beds)
        recent = pd.DataFrame({"value": history.loc[shown], **empty})
        points += _points(key, list(shown), recent, "history", None, now)
        daily, (mean, low, high) = forecast_counts(history)
        points += _points(key, future, daily, "forecast", daily.attrs["model"], now)
        points.append(
            {
                "series_key": series_key(scope, "new", beds, "next7"),
                "day": today,
                "kind": "forecast",
                "value": mean,
                "low": low,
                "high": high,
                "model": daily.attrs["model"],
                "trained_at": now,
            }
        )
        price_key = series_key(scope, "price", beds)
        recent_price = pd.DataFrame({"value": series.price[beds].loc[shown], **empty})
        points += _points(price_key, list(shown), recent_price, "history", None, now)
        price = forecast_price(series.price[beds], series.recent.get(beds))
        if len(price):
            points += _points(price_key, future, price, "forecast", PRICE_MODEL, now)
    return points


def replace_points(session: Session, points: list[dict[str, Any]]) -> int:
    """Upsert points, replacing the window they cover: every earlier forecast of these series goes (the
    days it covered are history now, or forecast anew; a next-7-days total is one row, not one a day
    it ran) and history older than the stored window is dropped, so re-running a day changes nothing."""
    if not points:
        return 0
    keys = sorted({p["series_key"] for p in points})
    session.execute(
        delete(MarketPoint).where(MarketPoint.series_key.in_(keys), MarketPoint.kind == "forecast")
    )
    first_history = min(p["day"] for p in points)
    session.execute(  # only the stored window is kept: the table stays bounded
        delete(MarketPoint).where(MarketPoint.series_key.in_(keys), MarketPoint.day < first_history)
    )
    rows = [p | {"day": p["day"].isoformat(), "trained_at": p["trained_at"].isoformat()} for p in points]
    session.execute(UPSERT_POINTS, {"rows": compact(rows)})
    return len(points)


# When each area's forecast was last made (its next-7-days series is written on every refresh)
TRAINED = text("""
SELECT series_key, max(trained_at) FROM market_points WHERE series_key = ANY(:keys) GROUP BY series_key
""").bindparams(bindparam("keys", type_=ARRAY(Text)))


def stalest_first(session: Session, regions: list[int] | None) -> list[str]:
    """The areas' scopes, stalest first (never refreshed before any), the city before regions among
    equals: a run that stops at its deadline is taken up by the next where it left off, whatever the
    number of regions."""
    query = select(Region.id).order_by(Region.id)
    if regions:
        query = query.where(Region.id.in_(regions))
    scopes = ["city", *(f"region:{rid}" for rid in session.scalars(query))]
    keys = {scope: series_key(scope, "new", "all", "next7") for scope in scopes}
    made = dict(session.execute(TRAINED, {"keys": list(keys.values())}).all())

    def staleness(scope: str) -> tuple[bool, Any]:
        last = made.get(keys[scope])
        return last is not None, last or 0

    return sorted(scopes, key=staleness)  # stable: among equals the city, then regions by id


def area_listings(
    session: Session, scopes: list[str], city: pd.DataFrame
) -> Iterator[tuple[str, pd.DataFrame]]:
    """Each area's new listings, in the order of `scopes`, the regions' read REGION_CHUNK at a time: a
    listing lies in many regions, and 1,000 regions' rows at once held 1.7 million of them."""
    for first in range(0, len(scopes), REGION_CHUNK):
        chunk = scopes[first : first + REGION_CHUNK]
        ids = [int(scope.split(":")[1]) for scope in chunk if scope != "city"]
        listings = {f"region:{rid}": rows for rid, rows in region_rows(session, ids).items()} if ids else {}
        for scope in chunk:
            yield scope, city if scope == "city" else listings[scope]


def refresh_market(
    session: Session, now: datetime, regions: list[int] | None = None, deadline: float | None = None
) -> dict[str, Any]:
    """History and forecasts for the city and every region (or the given ones), stalest first; past the
    `deadline` (runtime.budget_deadline) it stops after the area under way: `left` areas wait for the
    next run, which starts with them."""
    today = now.astimezone(UTC).date()
    start = today - timedelta(days=HISTORY_DAYS)
    scopes = stalest_first(session, regions)
    city = load_new_listings(session, start, today)
    written = done = 0
    for scope, rows in area_listings(session, scopes, city):
        written += replace_points(session, area_points(build_series(rows, start, today), scope, today, now))
        done += 1
        report_progress("market", done, len(scopes))
        if past(deadline):
            break
    return {
        "areas": done,
        "left": len(scopes) - done,
        "points": written,
        "from": start.isoformat(),
        "to": today.isoformat(),
    }


def run(event: Mapping[str, Any] | None, context: Any) -> dict[str, Any]:
    """checks-stage entry point (kwargs: regions, budget_seconds)."""

    def body(session: Session, regions: list[int] | None = None, budget_seconds: float | None = None):
        deadline = budget_deadline(context, budget_seconds)
        return refresh_market(session, datetime.now(UTC), regions, deadline)

    return run_job("market", body, event, context)
