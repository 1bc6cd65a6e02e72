"""Alembic environment: migrations run on the connection heron hands over (or on the URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from heron.store.engine import make_engine
from heron.store.schema import metadata

config = context.config


def _run(connection: Connection) -> None:
    """Configure Alembic on one connection and run the pending migrations."""
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///heron.db")
    with engine.connect() as conn:
        _run(conn)
