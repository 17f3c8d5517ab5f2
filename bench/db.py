"""A scratch database for benchmarks, in the project's local cluster (or DATABASE_URL's server)."""

from __future__ import annotations

import os

from sqlalchemy import make_url


def scratch_database(name: str) -> str:
    """Start local services, create a fresh migrated database `name`, point DATABASE_URL at it."""
    from jobs.local import services

    services.up()
    for key, value in services.local_environment().items():
        os.environ.setdefault(key, value)
    url = make_url(os.environ["DATABASE_URL"]).set(database=name).render_as_string(hide_password=False)
    services.drop_database(url)
    services.ensure_database(url)
    from models import migrate

    migrate.upgrade(url)
    os.environ["DATABASE_URL"] = url
    from models.session import get_engine, get_sessionmaker
    from models.settings import get_settings

    for cached in (get_settings, get_engine, get_sessionmaker):
        cached.cache_clear()
    return url
