"""Alembic: upgrade, downgrade to base and upgrade again on an empty database."""

from __future__ import annotations

import os
import re
import time

import pytest
from sqlalchemy import create_engine, inspect, make_url, text

from jobs.local import services
from models import Base, migrate  # Base: with every table (models/__init__.py)
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


def _revision(url: str) -> str:
    engine = create_engine(sqlalchemy_url(url))
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    finally:
        engine.dispose()


def test_a_migration_waits_for_a_busy_table_a_bounded_time_and_says_who_holds_it(scratch_url):
    # a migration waited for as long as a job's transaction used a table it alters (minutes), and every
    # query of that table queued behind it (the API's included) waited as long
    migrate.upgrade(scratch_url, revision="0009")
    patience = migrate.Patience(lock_timeout=0.3, attempts=2, pause=0.1)
    engine = create_engine(sqlalchemy_url(scratch_url), connect_args={"application_name": "nook-batch"})
    try:
        with engine.connect() as job:  # a run's open transaction has read job_runs
            job.execute(text("SELECT count(*) FROM job_runs"))
            began = time.monotonic()
            with pytest.raises(migrate.MigrationBlocked) as blocked:
                migrate.upgrade(scratch_url, revision="0010", patience=patience)
            assert time.monotonic() - began < 5
    finally:
        engine.dispose()
    message = str(blocked.value)
    assert message.startswith("a table the migration alters stayed in use by another transaction through 2 ")
    assert re.search(
        r"Open transactions: pid \d+ nook-batch \(idle in transaction for [\d:]+: SELECT count", message
    )
    assert _revision(scratch_url) == "0009"  # nothing was changed
    migrate.upgrade(scratch_url, revision="0010", patience=patience)  # the run's transaction has ended
    assert _revision(scratch_url) == "0010"
