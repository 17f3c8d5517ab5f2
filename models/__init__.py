"""Shared by every stage: tables, sessions, settings and the price scorer.

Only the standard library, SQLAlchemy, GeoAlchemy2 and annoy may be imported
here; the lean web and stream stages ship without pandas and friends.
"""

from models.loading import collector_paused

with collector_paused(freeze=True):  # the tables load once per process, at every cold start
    from models.base import Base
    from models.client_asks import ClientAsks
    from models.listing import Listing, ListingPriceChange, QuarantinedRecord
    from models.market import MarketPoint
    from models.ops import CheckResult, JobRun
    from models.price_rank import PriceModel, PriceRank
    from models.region import Notification, Region, RegionListing
    from models.sign_up import SignUp
    from models.source import Source
    from models.user import User


__all__ = [
    "Base",
    "CheckResult",
    "ClientAsks",
    "JobRun",
    "Listing",
    "ListingPriceChange",
    "MarketPoint",
    "Notification",
    "PriceModel",
    "PriceRank",
    "QuarantinedRecord",
    "Region",
    "RegionListing",
    "SignUp",
    "Source",
    "User",
]
