"""The price model artifact and its pure-Python scorer (standard library + annoy only).

An artifact is a directory (local, or an S3 prefix copied to /tmp once per
container) holding `model.json` and, per bedroom bucket, an annoy index of the
training listings' positions in metres with their prices and ids:

    model.json                       coefficients, calibration, feature fills, metrics, search_k
    index_<bucket>.ann               annoy (euclidean, 2-d) over local x/y metres
    prices_<bucket>.bin / ids_<bucket>.bin   float64 prices, int64 listing ids (item order)

Scoring a listing: its neighbour price (distance-weighted mean price of the ~50
nearest listings with the same bedroom bucket, weights exp(-d / decay), the
listing itself never counted), then log(price) quantiles p25/p50/p75 as
design · coefficients, the calibration shift of each quantile, exp, and sorted
so quantiles never cross. Training computes its neighbour feature with this
very code, so the scorer reproduces the fitted model exactly. A place with no
training listing but itself within REACH_M is outside the model's market: its
estimate says so (`Estimate.within_reach`), and nook ranks no listing there.
"""

from __future__ import annotations

import json
import math
import operator
import os
import shutil
import threading
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annoy import AnnoyIndex

from models.explain import label_for

SCHEMA = 1
QUANTILES = ("p25", "p50", "p75")
EARTH_RADIUS_M = 6_371_008.8
MAX_BUCKET = 4
MIN_GROUP = 5
REACH_M = 50_000  # a place farther than this from every listing a model learned from is outside its market
UNIT_TYPES = ("apartment", "condo", "house", "basement", "townhouse", "room")
CACHE_DIR = Path(os.environ.get("NOOK_MODEL_CACHE", "/tmp/nook-models"))


def bucket_of(bedrooms: int) -> str:
    """Bedroom bucket used for neighbours and dummies: "0".."3", and "4" for 4 or more."""
    return str(min(max(int(bedrooms), 0), MAX_BUCKET))


@dataclass(frozen=True)
class ListingFeatures:
    """What the model needs to know about a listing."""

    bedrooms: int
    bathrooms: float | None
    sqft: float | None
    furnished: bool | None
    unit_type: str | None
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Projection:
    """Local equirectangular projection to metres around the market's centre."""

    lat0: float
    lon0: float

    def to_metres(self, latitude: float, longitude: float) -> tuple[float, float]:
        """(x east, y north) in metres from the centre."""
        x = math.radians(longitude - self.lon0) * math.cos(math.radians(self.lat0)) * EARTH_RADIUS_M
        y = math.radians(latitude - self.lat0) * EARTH_RADIUS_M
        return x, y


class NeighbourIndex:
    """One bucket's annoy index with the price and listing id of every item."""

    def __init__(self, index: AnnoyIndex, prices: array, ids: array, search_k: int = -1) -> None:
        self.index, self.prices, self.ids = index, prices, ids
        self.search_k = search_k  # candidates examined a search; -1: annoy's default, trees x items asked

    def __len__(self) -> int:
        return len(self.prices)

    @classmethod
    def load(cls, directory: Path, key: str, search_k: int = -1) -> NeighbourIndex:
        """Load (mmap) a saved bucket."""
        index = AnnoyIndex(2, "euclidean")
        index.load(str(directory / f"index_{key}.ann"))
        prices, ids = array("d"), array("q")
        prices.frombytes((directory / f"prices_{key}.bin").read_bytes())
        ids.frombytes((directory / f"ids_{key}.bin").read_bytes())
        return cls(index, prices, ids, search_k)

    def nearest(self, x: float, y: float, k: int, exclude_id: int | None) -> tuple[list[int], list[float]]:
        """The k nearest items and their distances in metres, nearest first (never the excluded listing)."""
        items, distances = self.index.get_nns_by_vector(
            [x, y], k + 1, search_k=self.search_k, include_distances=True
        )
        if exclude_id is None:  # serving: nobody to leave out
            return items[:k], distances[:k]
        kept = [n for n, item in enumerate(items) if self.ids[item] != exclude_id][:k]
        return [items[n] for n in kept], [distances[n] for n in kept]

    def weighted_price(self, items: list[int], distances: list[float], decay_m: float) -> float | None:
        """Distance-weighted mean price of `items` (`nearest`'s answer)."""
        if not items:
            return None
        nearest, prices = distances[0], self.prices
        total = weights = 0.0
        for item, distance in zip(items, distances, strict=True):
            weight = math.exp(-(distance - nearest) / decay_m)
            total += weight * prices[item]
            weights += weight
        return total / weights


@dataclass(frozen=True)
class Estimate:
    """Expected monthly rent range, and the label of a given price if there was one."""

    p25: float
    p50: float
    p75: float
    model_version: str
    label: str | None = None
    # False when no listing the model learned from (but the listing itself) lies within REACH_M: its range
    # would come from another market's rents, so nook neither ranks the listing nor answers for the place
    within_reach: bool = True


class PriceModel:
    """A loaded artifact: scores listings in pure Python."""

    def __init__(self, spec: dict[str, Any], buckets: dict[str, NeighbourIndex]) -> None:
        if spec.get("schema") != SCHEMA:
            raise ValueError(f"artifact schema {spec.get('schema')} is not {SCHEMA}")
        self.spec = spec
        self.version: str = spec["version"]
        self.buckets = buckets
        self.projection = Projection(**spec["projection"])
        self.columns: list[str] = spec["columns"]
        self.coefficients = {q: [spec["coefficients"][q][c] for c in self.columns] for q in QUANTILES}
        self.shifts = {q: float(spec["calibration"]["shifts"].get(q, 0.0)) for q in QUANTILES}
        self.k, self.decay_m = int(spec["neighbours"]["k"]), float(spec["neighbours"]["decay_m"])

    @classmethod
    def load(cls, directory: str | Path) -> PriceModel:
        """Load an artifact directory (model.json + bucket files)."""
        directory = Path(directory)
        spec = json.loads((directory / "model.json").read_text())
        # an artifact trained before search_k was stored is searched as it was trained: annoy's default
        search_k = int(spec["neighbours"].get("search_k", -1))
        buckets = {
            key: NeighbourIndex.load(directory, key, search_k) for key in spec["neighbours"]["buckets"]
        }
        return cls(spec, buckets)

    def neighbourhood(self, features: ListingFeatures, exclude_id: int | None = None) -> Neighbourhood:
        """The neighbour price feature of a listing and whether it is in the market (see `neighbourhood`);
        a model trained without the neighbour feature cannot tell, and takes every place as in it."""
        if not self.buckets:
            return Neighbourhood(float(self.spec["fills"]["price"]), True)
        return neighbourhood(
            self.buckets,
            self.projection,
            self.k,
            self.decay_m,
            features,
            exclude_id,
            float(self.spec["fills"]["price"]),
        )

    def neighbour_price(self, features: ListingFeatures, exclude_id: int | None = None) -> float:
        """The neighbour price feature of a listing (see `neighbourhood`)."""
        return self.neighbourhood(features, exclude_id).price

    def design(self, features: ListingFeatures, neighbour_price: float | None) -> list[float]:
        """The design row, in `self.columns` order."""
        return design_row(features, neighbour_price, self.spec["fills"], self.columns)

    def raw_quantiles(self, features: ListingFeatures, exclude_id: int | None = None) -> dict[str, float]:
        """log(price) quantiles straight from the fitted coefficients (no calibration, unsorted)."""
        return self._raw(features, self.neighbourhood(features, exclude_id))

    def _raw(self, features: ListingFeatures, around: Neighbourhood) -> dict[str, float]:
        row = self.design(features, around.price if "log_nn_price" in self.columns else None)
        return {q: math.fsum(map(operator.mul, row, self.coefficients[q])) for q in QUANTILES}

    def estimate(
        self, features: ListingFeatures, price: float | None = None, exclude_id: int | None = None
    ) -> Estimate:
        """Calibrated, non-crossing p25/p50/p75 in dollars, the label of `price` if given, and whether
        the place is within the model's market at all (`Estimate.within_reach`)."""
        around = self.neighbourhood(features, exclude_id)
        raw = self._raw(features, around)
        p25, p50, p75 = sorted(in_cents(math.exp(raw[q] + self.shifts[q])) for q in QUANTILES)
        label = label_for(price, p25, p75) if price is not None else None
        return Estimate(p25, p50, p75, self.version, label, around.within_reach)


def in_cents(amount: float) -> float:
    """A dollar amount to whole cents, half to even, as the training step's numpy rounds it.

    Rents are compared with these bands: a band a rounding error away from a rent (p25 of
    1500.0000000012 for a rent of 1500, where every flat rents alike) must not label it low."""
    return round(amount * 100) / 100


@dataclass(frozen=True)
class Neighbourhood:
    """A listing's neighbour price, and whether a listing the model learned from is within REACH_M."""

    price: float
    within_reach: bool


def neighbourhood(
    buckets: dict[str, NeighbourIndex],
    projection: Projection,
    k: int,
    decay_m: float,
    features: ListingFeatures,
    exclude_id: int | None,
    fallback: float,
) -> Neighbourhood:
    """The distance-weighted mean price of the k nearest listings with the same bedroom bucket, and
    whether any listing (of any bucket; never the listing itself) lies within REACH_M.

    Falls back to all listings when the bucket is too small, and to `fallback`
    when there is nobody at all. Training and serving both call this function.
    The reach costs no search of its own where the bucket's nearest is close enough.
    """
    x, y = projection.to_metres(features.latitude, features.longitude)
    everyone = buckets["all"]
    index = buckets.get(bucket_of(features.bedrooms))
    if index is None or len(index) - (exclude_id is not None) < MIN_GROUP:
        index = everyone
    items, distances = index.nearest(x, y, k, exclude_id)
    price = index.weighted_price(items, distances, decay_m)
    if distances and distances[0] <= REACH_M:
        within = True
    elif index is everyone:
        within = False
    else:
        closest = everyone.nearest(x, y, k, exclude_id)[1]
        within = bool(closest) and closest[0] <= REACH_M
    return Neighbourhood(price if price is not None else fallback, within)


def design_row(
    features: ListingFeatures, neighbour_price: float | None, fills: dict[str, Any], columns: list[str]
) -> list[float]:
    """Every model column for one listing (the training frame computes the same, vectorised)."""
    bucket = bucket_of(features.bedrooms)
    bath_missing = features.bathrooms is None
    sqft_missing = features.sqft is None or features.sqft <= 0
    values = {
        "const": 1.0,
        "log_nn_price": math.log(neighbour_price) if neighbour_price else math.log(fills["price"]),
        "bathrooms": float(fills["bathrooms"][bucket] if bath_missing else features.bathrooms),
        "bathrooms_missing": float(bath_missing),
        "log_sqft": float(fills["log_sqft"][bucket]) if sqft_missing else math.log(float(features.sqft)),
        "sqft_missing": float(sqft_missing),
        "furnished": float(bool(features.furnished)),
        "furnished_missing": float(features.furnished is None),
        "type_missing": float(features.unit_type is None),
    }
    for b in ("0", "2", "3", "4"):
        values[f"bed_{b}"] = float(bucket == b)
    for unit_type in UNIT_TYPES[1:]:
        values[f"type_{unit_type}"] = float(features.unit_type == unit_type)
    return [values[c] for c in columns]


# --- loading artifacts, once per container -------------------------------------------------

# A warm container sees a new model every retraining (every two hours): it keeps the newest two loaded
# (the stream scores a batch with its last model before the database names the current one), and on
# disk only what it needs: /tmp is 512 MB, and a 100k-listing artifact is ~38 MB.
KEEP_LOADED = 2
_loaded: dict[str, PriceModel] = {}  # oldest first
_lock = threading.Lock()


class ModelUnavailable(RuntimeError):
    """The current model's artifact cannot be found or read."""


PARTIAL = ".partial-"  # a download under way: <version>.partial-<pid>


def _alive(pid: int) -> bool:
    """Whether process `pid` is running (signal 0 asks without sending)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _make_room(version: str) -> None:
    """Before loading `version` from S3: forget every loaded model but the newest, and delete every
    cached artifact but theirs (a model still in use keeps working: its index files stay mapped until it
    is let go; whatever a process stopped before it could delete goes here too). Another live process's
    download is left alone: locally, the API, the stream poller and the jobs share the cache."""
    newest = next(reversed(_loaded), None)
    for old in [v for v in _loaded if v != newest]:
        del _loaded[old]
    if CACHE_DIR.is_dir():
        for entry in CACHE_DIR.iterdir():
            _, partial, pid = entry.name.rpartition(PARTIAL)
            if partial and pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)):
                continue
            if entry.name not in (version, newest):
                shutil.rmtree(entry, ignore_errors=True)


def _download(uri: str, version: str) -> Path:
    """Copy an s3:// artifact prefix to the local cache (once; never a partial copy)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, _, prefix = uri[len("s3://") :].partition("/")
    target = CACHE_DIR / version
    if (target / "model.json").exists():
        return target
    partial = target.with_name(f"{version}{PARTIAL}{os.getpid()}")  # this process's own
    shutil.rmtree(partial, ignore_errors=True)
    s3 = boto3.client("s3")
    try:
        try:
            partial.mkdir(parents=True)
            for page in s3.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix.rstrip("/") + "/"
            ):
                for obj in page.get("Contents", []):
                    s3.download_file(bucket, obj["Key"], str(partial / obj["Key"].rsplit("/", 1)[-1]))
            complete = (partial / "model.json").exists()
            if complete:
                _settle(partial, target)
        except (BotoCoreError, ClientError, OSError) as exc:  # OSError: the disk is full, for one
            raise ModelUnavailable(f"cannot download {uri}: {exc}") from exc
        if not complete:
            raise ModelUnavailable(f"{uri} holds no model.json")
    finally:
        shutil.rmtree(partial, ignore_errors=True)  # renamed if it was whole
    return target


def _settle(partial: Path, target: Path) -> None:
    """Make a whole download the cached copy, unless another process's is there first: that one stays
    (it may be being read), and this one goes with the partial directory."""
    if (target / "model.json").exists():
        return
    shutil.rmtree(target, ignore_errors=True)  # a copy cut short (a process stopped deleting it)
    try:
        partial.rename(target)
    except OSError:
        if not (target / "model.json").exists():  # not another process's whole copy: a real failure
            raise


@contextmanager
def _cache_held() -> Iterator[None]:
    """The model cache to this process alone while it changes it and reads a model in. Locally the API,
    the stream poller and the jobs share it: a download settling checked that no whole copy was there,
    another process's arrived, and the first deleted it to put its own in place, under the other's
    loader (model.json not found, one CI run in many); a process making room deleted a version another
    was reading in. A Lambda container has one process: the lock is never waited for there."""
    import fcntl

    CACHE_DIR.parent.mkdir(parents=True, exist_ok=True)
    with open(CACHE_DIR.with_name(CACHE_DIR.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # let go when the file closes, or the process ends
        yield


def _read(directory: Path, uri: str) -> PriceModel:
    try:
        return PriceModel.load(directory)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelUnavailable(f"cannot load the model artifact at {uri}: {exc}") from exc


def load_model(uri: str, version: str) -> PriceModel:
    """The artifact at `uri` (a local directory or s3:// prefix), loaded once per container while it is
    one of the newest two it was asked for."""
    with _lock:
        if version in _loaded:
            _loaded[version] = _loaded.pop(version)  # the newest again
            return _loaded[version]
        if uri.startswith("s3://"):
            with _cache_held():
                _make_room(version)
                model = _read(_download(uri, version), uri)
        else:
            model = _read(Path(uri.removeprefix("file://")), uri)
        _loaded[version] = model
        while len(_loaded) > KEEP_LOADED:
            del _loaded[next(iter(_loaded))]
        return model


# the newest activated model's version and artifact: a statement of its own (current_model), or a part of
# one that asks for more in the same round trip (the stream's batch, jobs/stream.py)
CURRENT_MODEL_SQL = """
SELECT version, artifact_uri FROM price_models WHERE activated_at IS NOT NULL
ORDER BY activated_at DESC LIMIT 1
"""


def current_model(session: Any) -> PriceModel | None:
    """The newest activated model, or None before the first one (ModelUnavailable if it cannot load)."""
    from sqlalchemy import text

    row = session.execute(text(CURRENT_MODEL_SQL)).first()
    return load_model(row.artifact_uri, row.version) if row else None
