"""API fixtures: two users with keys, a small ranked market, a trained model artifact."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from jobs.price_rank.demo_frame import market_frame
from models.user import User, create_user
from tests.factories import activate_artifact, add_price_rank, insert_active_listings


@dataclass
class Caller:
    user: User
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@pytest.fixture(autouse=True)
def prompt_answers(monkeypatch):
    """The asks that mail a link (a lost key's, a sign-up's) are answered at once: only the tests of the
    wait (app.web.evenly_timed) wait."""
    monkeypatch.setattr("app.web.EVEN_ANSWER_SECONDS", 0.0)


@pytest.fixture
def alice(db_session) -> Caller:
    return Caller(*create_user(db_session, "alice@example.com"))


@pytest.fixture
def bob(db_session) -> Caller:
    return Caller(*create_user(db_session, "bob@example.com"))


@pytest.fixture(scope="session")
def small_market():
    return market_frame(400, seed=21)


@pytest.fixture
def market_ids(db_session, small_market) -> dict[int, int]:
    """400 active listings; every other one has a price rank (low, typical and high in turn)."""
    ids = insert_active_listings(db_session, small_market)
    centres = (0.8, 1.0, 1.25)  # the price sits above, inside, below the range: high, typical, low
    for n, (frame_id, db_id) in enumerate(list(ids.items())[::2]):
        price = float(small_market.loc[small_market.listing_id == frame_id, "price"].iloc[0])
        centre = price * centres[n % 3]
        add_price_rank(db_session, db_id, centre * 0.9, centre, centre * 1.1, price=price)
    return ids


@pytest.fixture
def active_model(db_session, artifact_dir) -> str:
    """Make the artifact the current model."""
    activate_artifact(db_session, artifact_dir)
    return "api-test-v1"
