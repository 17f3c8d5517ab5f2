"""Alembic: upgrade, downgrade to base and upgrade again on an empty database."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, inspect, make_url, text

from jobs.local import services
from models import migrate
from models.base import Base
from models.session import sqlalchemy_url


@pytest.fixture
def scratch_url():
    url = make_url(os.environ["DATABASE_URL"])
    scratch = url.set(database=f"{url.database}_migrations").render_as_string(hide_password=False)
    services.drop_database(scratch)
    services.ensure_database(scratch)
    yield scratch
    services.drop_database(scratch)


def _tables(url: str) -> set[str]:
    engine = create_engine(sqlalchemy_url(url))
    try:
        return set(inspect(engine).get_table_names()) - {"spatial_ref_sys", "alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_round_trip(scratch_url):
    migrate.upgrade(scratch_url)
    expected = set(Base.metadata.tables)
    assert _tables(scratch_url) == expected
    migrate.downgrade(scratch_url)
    assert _tables(scratch_url) == set()
    migrate.upgrade(scratch_url)
    assert _tables(scratch_url) == expected


def test_models_match_the_migrated_schema(scratch_url):
    """Autogenerate finds nothing to do: the migrations and the models agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from geoalchemy2 import alembic_helpers

    migrate.upgrade(scratch_url)
    engine = create_engine(sqlalchemy_url(scratch_url))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"include_object": alembic_helpers.include_object, "compare_type": True}
            )
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_listing_geometry_has_a_gist_index(db_session):
    indexes = (
        db_session.execute(
            text("SELECT indexdef FROM pg_indexes WHERE tablename = 'listings' AND indexdef ILIKE '%gist%'")
        )
        .scalars()
        .all()
    )
    assert any("(geom)" in definition for definition in indexes)
