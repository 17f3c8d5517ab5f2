"""The cells a listing writer locks: copies close enough to be one flat always share one."""

from __future__ import annotations

import math
import random

from models.matching import CELL_DEGREES, DEDUPE_METRES, WHOLE_MAP, cell_keys


def metres_apart(a: tuple[float, float], b: tuple[float, float]) -> float:
    (lat1, lon1), (lat2, lon2) = (tuple(map(math.radians, p)) for p in (a, b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(h))


def test_copies_within_reach_share_a_cell_even_across_cell_edges():
    rng = random.Random(3)
    checked = 0
    for _ in range(20_000):
        # around a cell corner half the time, where a pair straddles up to four cells
        corner = rng.random() < 0.5
        lat = (
            (round(rng.uniform(43.6, 43.8) / CELL_DEGREES) * CELL_DEGREES)
            if corner
            else rng.uniform(43.6, 43.8)
        )
        lon = (
            (round(rng.uniform(-79.5, -79.3) / CELL_DEGREES) * CELL_DEGREES)
            if corner
            else rng.uniform(-79.5, -79.3)
        )
        a = (lat + rng.uniform(-1e-4, 1e-4), lon + rng.uniform(-1e-4, 1e-4))
        b = (a[0] + rng.uniform(-1.2e-4, 1.2e-4), a[1] + rng.uniform(-1.6e-4, 1.6e-4))
        if metres_apart(a, b) > DEDUPE_METRES:
            continue
        checked += 1
        assert set(cell_keys([a])) & set(cell_keys([b])), (a, b)
    assert checked > 5_000


def test_a_listing_locks_a_cell_or_a_few_and_far_ones_none_in_common():
    inside = (43.6555, -79.3555)  # mid-cell: its own cell only
    edge = (43.6550001, -79.3555)  # on an edge: both sides
    assert len(cell_keys([inside])) == 1 and len(cell_keys([edge])) == 2
    assert not set(cell_keys([inside])) & set(cell_keys([(43.6655, -79.3555)]))  # 1.1 km north
    keys = cell_keys([inside, edge, inside])
    assert keys == sorted(set(keys)) and min(keys) > WHOLE_MAP
