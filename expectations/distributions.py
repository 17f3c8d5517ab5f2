"""Distributions: the bedrooms mix of active listings stays close to the reference mix
(reference/bedrooms_mix.json, beside this suite)."""

from __future__ import annotations

import json
from pathlib import Path

import great_expectations as gx

from expectations import Dataset, Params

NAME = "distributions"
DESCRIPTION = "bedrooms mix close to the reference (KL divergence below the threshold)"
REFERENCE = Path(__file__).with_name("reference") / "bedrooms_mix.json"


def reference() -> dict:
    """The reference partition: bedroom counts (4 means 4+) and their weights."""
    return json.loads(REFERENCE.read_text())


def datasets(params: Params) -> list[Dataset]:
    """One dataset: the bedrooms of every active canonical listing (4+ folded into 4)."""
    mix = reference()
    return [
        Dataset(
            name="bedrooms_mix",
            sql="SELECT least(bedrooms, 4) AS bedrooms FROM listings "
            "WHERE status = 'active' AND canonical_id IS NULL",
            expectations=[
                gx.expectations.ExpectColumnKLDivergenceToBeLessThan(
                    column="bedrooms",
                    partition_object={"values": mix["values"], "weights": mix["weights"]},
                    threshold=params.threshold("bedrooms_kl", 0.1),
                    meta={"about": "how far today's bedrooms mix is from the reference"},
                )
            ],
        )
    ]
