"""Test harness: real PostgreSQL + PostGIS, a private moto server, Flask fixtures.

The suite starts what it needs: the project's private cluster (unless
DATABASE_URL points elsewhere) with a fresh `<db>_test` database migrated to
head, and its own moto server on a free loopback port. Each `db_session` test
runs inside an outer transaction that is rolled back afterwards.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, make_url, text
from sqlalchemy.orm import Session

from jobs.local import services
from jobs.local.lambda_context import LocalContext

EVENTS_DIR = Path(__file__).parent / "events"
_moto_pid: int | None = None


def free_port() -> int:
    """An unused TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _test_database_url() -> str:
    if os.environ.get("NOOK_TEST_DATABASE_URL"):
        return os.environ["NOOK_TEST_DATABASE_URL"]
    base = make_url(os.environ.get("DATABASE_URL") or services.local_database_url())
    return base.set(database=f"{base.database}_test").render_as_string(hide_password=False)


def pytest_configure(config: pytest.Config) -> None:
    """Start the services and point the environment at them, before collection."""
    global _moto_pid
    if hasattr(config, "workerinput"):
        return
    if not os.environ.get("DATABASE_URL"):
        services.postgres_up()
    url = _test_database_url()
    services.drop_database(url)
    services.ensure_database(url)
    from models import migrate

    migrate.upgrade(url)
    # The planner must not choose by when autovacuum last looked at a table: the tests fill the tables
    # and roll back all day, and once vacuumed a table looks empty (listings: 0 rows in 336 pages), which
    # made the duplicate search read a batch's whole table in one CI run, and (price_ranks and
    # region_listings vacuumed) a region's walk by value take minutes a page in another. Every table's
    # statistics stay those of a new deployment.
    import psycopg2

    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        for (table_name,) in cursor.fetchall():
            cursor.execute(f'ALTER TABLE "{table_name}" SET (autovacuum_enabled = false)')
    connection.close()
    port = free_port()
    _moto_pid = services.start_moto(port, services.LOCAL_DIR / "moto-test.log")
    os.environ.update(
        {
            "DATABASE_URL": url,
            "AWS_ENDPOINT_URL": services.moto_url(port),
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "NOOK_BUCKET": "nook-test",
            "NOOK_STAGE": "test",
            "NOOK_ALLOW_PRIVATE_PAGES": "true",  # every test site listens on 127.0.0.1
        }
    )
    os.environ.pop("AWS_PROFILE", None)
    # as by default: no email (nor its feedback), nor sign-ups, unless a test sends some
    for unset in ("NOOK_MAIL_FROM", "NOOK_PUBLIC_URL", "NOOK_MAIL_FEEDBACK_QUEUE", "NOOK_OPEN_SIGN_UP"):
        os.environ.pop(unset, None)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the test moto server."""
    if _moto_pid is not None:
        services.stop_pid(_moto_pid)


@pytest.fixture
def setting(monkeypatch):
    """`setting(NAME, value)`: an environment setting for this test, with the settings read again."""
    from models.settings import get_settings

    def put(name: str, value: str) -> None:
        monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    yield put
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def engine():
    """The engine every code path uses (models.session.get_engine)."""
    from models.session import get_engine

    return get_engine()


@pytest.fixture
def db_connection(engine) -> Iterator[Connection]:
    """A connection inside an outer transaction, rolled back after the test."""
    connection = engine.connect()
    transaction = connection.begin()
    try:
        yield connection
    finally:
        transaction.rollback()
        connection.close()


@pytest.fixture
def db_session(db_connection: Connection) -> Iterator[Session]:
    """A session whose commits become savepoints of the outer transaction."""
    session = Session(bind=db_connection, join_transaction_mode="create_savepoint")
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def app(db_connection: Connection):
    """The web app, its requests bound to the test's outer transaction."""
    from app import create_app

    def factory() -> Session:
        return Session(bind=db_connection, join_transaction_mode="create_savepoint")

    return create_app({"TESTING": True, "SESSION_FACTORY": factory})


@pytest.fixture
def client(app):
    """Flask test client."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """Flask CLI runner."""
    return app.test_cli_runner()


def every_table() -> str:
    """Every table of nook's (a table added later is emptied too: sign_ups once leaked between tests)."""
    from models import Base

    return ", ".join(table.name for table in Base.metadata.sorted_tables)


@pytest.fixture
def committed(engine) -> Iterator[None]:
    """For code that commits through session_scope(): empty the tables afterwards."""
    yield
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {every_table()} RESTART IDENTITY CASCADE"))


@pytest.fixture
def moto_endpoint() -> str:
    """The test moto server, reset to an empty state."""
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    return endpoint


@pytest.fixture
def lambda_context() -> LocalContext:
    """A minimal Lambda context."""
    return LocalContext(function_name="nook-test", timeout_seconds=60)


def run_python(code: str) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter from the repository root, with this environment."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[1],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
    )


def blocking(modules: tuple[str, ...] | list[str]) -> str:
    """Python code after which importing any of `modules` raises ImportError (a fresh process's prelude)."""
    return f"import sys\nfor name in {tuple(modules)!r}:\n    sys.modules[name] = None\n"


def load_event(name: str) -> dict:
    """A synthetic Lambda event from tests/events/."""
    import json

    return json.loads((EVENTS_DIR / name).read_text())


@pytest.fixture(scope="session")
def artifact_dir(tmp_path_factory):
    """A price model trained on 3,000 demo listings, saved locally (version api-test-v1)."""
    from jobs.price_rank.demo_frame import market_frame
    from jobs.price_rank.model import Settings, train

    directory = tmp_path_factory.mktemp("artifact")
    train(market_frame(3000, seed=5), directory, version="api-test-v1", settings=Settings())
    return directory
