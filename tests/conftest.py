"""Shared fixtures: a fresh database per test (SQLite file or a new PostgreSQL database).

`HERON_TEST_BACKEND=sqlite` (default) or `postgresql`; PostgreSQL comes from
`HERON_TEST_POSTGRES_URL` (default `postgresql+psycopg://127.0.0.1:5432/test`, used only as the
server to create and drop throwaway databases in). Under `CI=true` an unreachable PostgreSQL is a
failure, elsewhere the PostgreSQL run is skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from sqlalchemy.engine import Engine, make_url
from starlette.testclient import TestClient

from heron.admin import apps as app_admin
from heron.admin import keys as key_admin
from heron.admin import workspaces as ws_admin
from heron.app import create_app
from heron.config import Settings
from heron.permissions import ALL_PERMISSIONS
from heron.store import migrate
from heron.store.engine import make_engine

BACKEND = os.environ.get("HERON_TEST_BACKEND", "sqlite")
POSTGRES_URL = os.environ.get("HERON_TEST_POSTGRES_URL", "postgresql+psycopg://127.0.0.1:5432/test")


def _postgres_admin_dsn() -> str:
    """A libpq DSN for the maintenance connection that creates and drops test databases."""
    url = make_url(POSTGRES_URL)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def create_postgres_database() -> str:
    """Create a throwaway PostgreSQL database; return its SQLAlchemy URL."""
    name = f"heron_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(_postgres_admin_dsn(), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    """Drop a throwaway database, disconnecting anything still attached."""
    name = make_url(url).database
    with psycopg.connect(_postgres_admin_dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(tmp_path: os.PathLike[str]) -> Iterator[str]:
    """A URL to an empty database of the backend under test, removed afterwards."""
    if BACKEND == "postgresql":
        url = create_postgres_database()
        try:
            yield url
        finally:
            drop_postgres_database(url)
    else:
        yield f"sqlite:///{os.fspath(tmp_path)}/heron.db"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a migrated database."""
    eng = make_engine(database_url)
    migrate.upgrade(eng)
    yield eng
    eng.dispose()


@dataclass
class Workspace:
    """A workspace prepared for a test: its id, a full-permission key and one app."""

    id: int
    key: str
    app_id: str
    app_key: int


def make_workspace(engine: Engine, name: str | None = None, time_zone: str = "UTC") -> Workspace:
    """Create a workspace (or use `default`) with an all-permissions key and an app."""
    if name is None:
        ws_id = migrate.ensure_default_workspace(engine)
    else:
        ws_id = ws_admin.create_workspace(engine, name, time_zone).id
    secret, _ = key_admin.create_key(engine, ws_id, "test", ALL_PERMISSIONS)
    app = app_admin.create_app(engine, ws_id, "app")
    return Workspace(ws_id, secret, app.api_id, app.id)


@pytest.fixture
def workspace(engine: Engine) -> Workspace:
    """The default workspace with a key and an app."""
    return make_workspace(engine)


@pytest.fixture
def client(engine: Engine, database_url: str) -> Iterator[TestClient]:
    """The real ASGI app (writer thread included) on the test database."""
    app = create_app(Settings(database_url=database_url))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def auth(key: str) -> dict[str, str]:
    """Headers for a Bearer key."""
    return {"Authorization": f"Bearer {key}"}
