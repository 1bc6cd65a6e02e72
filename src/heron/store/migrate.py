"""Schema migrations (Alembic) and the rows every database starts with."""

from __future__ import annotations

import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from heron.store.schema import workspaces

DEFAULT_WORKSPACE = "default"
_MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(engine: Engine) -> Config:
    """An Alembic config pointing at heron's migrations and the given engine."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def is_current(engine: Engine) -> bool:
    """True when the database is at every head revision (cheap: one small query)."""
    heads = set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads()) == heads


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision and make sure the `default` workspace exists."""
    config = alembic_config(engine)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "heads")
    ensure_default_workspace(engine)


def ensure_default_workspace(engine: Engine) -> int:
    """Create the `default` workspace when missing; return its id."""
    with engine.begin() as conn:
        found = conn.execute(
            select(workspaces.c.id).where(workspaces.c.name == DEFAULT_WORKSPACE)
        ).scalar()
        if found is not None:
            return int(found)
        result = conn.execute(
            insert(workspaces).values(
                name=DEFAULT_WORKSPACE, time_zone="UTC", created_at_ms=int(time.time() * 1000)
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]
