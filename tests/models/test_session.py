"""session_scope commits on success and rolls back on error."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from models.session import session_scope
from models.source import Source


def test_commits_on_success(committed):
    with session_scope() as session:
        session.add(Source(name="a", kind="demo", config={}))
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Source)) == 1


def test_rolls_back_on_error(committed):
    with pytest.raises(ZeroDivisionError), session_scope() as session:
        session.add(Source(name="b", kind="demo", config={}))
        session.flush()
        1 / 0  # noqa: B018
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Source)) == 0
