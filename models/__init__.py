"""Shared by every stage: tables, sessions, settings and the price scorer.

Only the standard library, SQLAlchemy, GeoAlchemy2 and annoy may be imported
here; the lean web and stream stages ship without pandas and friends.

The tables load when first named, not with the package: `import models.pricing`
loads the scorer alone, and the stream stage, which writes with SQL of its own,
never loads GeoAlchemy2 and the ~20 mapped classes (0.15-0.2 s of its cold
start, measured). A table module imports the modules of the tables its foreign
keys name, so whatever set of them a process loads can be flushed and created.
Naming a table here (`from models import Base, Listing`) loads them all:
Base.metadata then holds every table (migrations, the tests' schema).
"""

from __future__ import annotations

import importlib
from typing import Any

from models.loading import collector_paused

# each table's class -> its module
TABLES = {
    "Base": "models.base",
    "CheckResult": "models.ops",
    "ClientAsks": "models.client_asks",
    "JobRun": "models.ops",
    "Listing": "models.listing",
    "ListingPriceChange": "models.listing",
    "MarketPoint": "models.market",
    "Notification": "models.region",
    "PriceModel": "models.price_rank",
    "PriceRank": "models.price_rank",
    "QuarantinedRecord": "models.quarantine",
    "Region": "models.region",
    "RegionListing": "models.region",
    "SignUp": "models.sign_up",
    "Source": "models.source",
    "User": "models.user",
}

__all__ = sorted(TABLES)


def __getattr__(name: str) -> Any:
    """`models.Listing` and `from models import Listing`: every table, loaded once per process."""
    if name not in TABLES:
        raise AttributeError(f"module 'models' has no attribute {name!r}")
    with collector_paused(freeze=True):  # once per process, at most (models/loading.py)
        globals().update({n: getattr(importlib.import_module(m), n) for n, m in TABLES.items()})
    return globals()[name]
