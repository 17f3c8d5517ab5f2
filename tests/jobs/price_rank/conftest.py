"""A model trained once on the demo market, shared by the price-rank tests."""

from __future__ import annotations

import pytest

from jobs.price_rank.demo_frame import market_frame
from jobs.price_rank.model import Settings, train


@pytest.fixture(scope="session")
def market():
    """20,000 clean demo-market listings."""
    return market_frame(20_000, seed=7)


@pytest.fixture(scope="session")
def trained(market, tmp_path_factory):
    """The production model trained on them, artifact in a temp directory."""
    return train(market, tmp_path_factory.mktemp("model"), version="test-v1", settings=Settings())
