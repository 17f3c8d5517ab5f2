"""Run in a fresh process: import the scorer, load an artifact directory, time warm estimates.

python -m bench.scorer_probe ARTIFACT_DIR   -> prints one JSON line
"""

from __future__ import annotations

import json
import random
import sys
import time


def main(directory: str) -> dict[str, float]:
    """Import, load, warm up, then time 2,000 estimates of random listings."""
    started = time.perf_counter()
    from models.pricing import ListingFeatures, PriceModel

    imported = time.perf_counter() - started
    started = time.perf_counter()
    model = PriceModel.load(directory)
    load = time.perf_counter() - started
    rng = random.Random(1)

    def listing() -> ListingFeatures:
        return ListingFeatures(
            bedrooms=rng.choice([0, 1, 1, 2, 2, 3, 4]),
            bathrooms=rng.choice([1.0, 1.5, 2.0, None]),
            sqft=rng.choice([None, 500, 750, 1100]),
            furnished=rng.random() < 0.2,
            unit_type=rng.choice(["apartment", "condo", "house", "basement"]),
            latitude=43.65 + rng.uniform(-0.08, 0.12),
            longitude=-79.38 + rng.uniform(-0.15, 0.15),
        )

    for _ in range(200):
        model.estimate(listing(), price=2500)
    laps = []
    for _ in range(2000):
        features = listing()
        started = time.perf_counter()
        model.estimate(features, price=2500)
        laps.append(time.perf_counter() - started)
    laps.sort()
    return {"import_s": imported, "load_s": load, "p50_ms": laps[1000] * 1000, "p99_ms": laps[1980] * 1000}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
