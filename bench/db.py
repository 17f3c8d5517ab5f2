"""A scratch database for benchmarks, in the project's local cluster (or DATABASE_URL's server)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

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


def scratch_dir(prefix: str) -> Path:
    """A new temporary directory, removed when the benchmark's process exits (a 100k-listing artifact is
    38 MB, the deploy benchmark's packages far more: left behind, every run filled /tmp further)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def current_model(
    rows: int, version: str, sources: tuple[str, ...] = (), artifact: Path | None = None
) -> Path:
    """Train a model on `rows` synthetic listings (or take the `artifact` trained so before), make it
    the current one (and register stream `sources` alongside); return its artifact directory."""
    from jobs.price_rank.demo_frame import market_frame
    from jobs.price_rank.model import train
    from models.price_rank import PriceModel
    from models.session import session_scope
    from models.source import Source

    if artifact is None:
        artifact = scratch_dir(f"nook-{version}-")
        train(market_frame(rows, seed=3), artifact, version=version)
    with session_scope() as session:
        session.add_all(Source(name=name, kind="stream", config={}) for name in sources)
        session.add(
            PriceModel(
                version=version,
                run_id=version,
                artifact_uri=str(artifact),
                metrics={},
                n_train=rows,
                activated_at=datetime.now(UTC),
            )
        )
    return artifact
