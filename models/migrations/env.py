"""Alembic environment: Base.metadata plus GeoAlchemy2's helpers."""

from alembic import context
from geoalchemy2 import alembic_helpers
from sqlalchemy import create_engine, pool

from models import Base  # naming a table loads them all onto Base.metadata (models/__init__.py)
from models.session import sqlalchemy_url
from models.settings import get_settings

target_metadata = Base.metadata


def _url() -> str:
    return sqlalchemy_url(context.config.attributes.get("url") or get_settings().database_url)


def _configure(**kwargs) -> None:
    context.configure(
        target_metadata=target_metadata,
        include_object=alembic_helpers.include_object,
        process_revision_directives=alembic_helpers.writer,
        render_item=alembic_helpers.render_item,
        compare_type=True,
        **kwargs,
    )


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it."""
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _migrate(connection) -> None:
    """Every pending migration in one transaction, which waits at most `lock_timeout` for each lock: a
    migration queued behind a job's long transaction would hold up every query of its tables meanwhile."""
    _configure(connection=connection)
    with context.begin_transaction():
        timeout = context.config.attributes.get("lock_timeout")
        if timeout:
            connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(timeout * 1000)}ms'")
        context.run_migrations()


def run_migrations_online() -> None:
    """Run migrations against the database."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        _migrate(conn)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
