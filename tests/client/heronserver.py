"""A real `heron serve` on a fresh database of the backend under test, for the client tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from conftest import BACKEND, create_postgres_database, drop_postgres_database, make_workspace
from heron.admin import keys as key_admin
from heron.store import migrate
from heron.store.engine import make_engine
from serverproc import ServerProcess

__all__ = ["Heron", "running_heron"]


@dataclass
class Heron:
    """A running server and what a test needs to talk to it."""

    url: str
    key: str
    app_id: str
    events_list_key: str
    paths: set[str]


@contextmanager
def running_heron(tmp: Path) -> Iterator[Heron]:
    """Start heron on a new SQLite file or PostgreSQL database; drop the database afterwards."""
    url = create_postgres_database() if BACKEND == "postgresql" else f"sqlite:///{tmp}/heron.db"
    try:
        engine = make_engine(url)
        migrate.upgrade(engine)
        workspace = make_workspace(engine)
        limited, _ = key_admin.create_key(engine, workspace.id, "list", ["events.list"])
        engine.dispose()
        with ServerProcess(url, tmp / "server.log") as server:
            paths = set(httpx.get(f"{server.base_url}/openapi.json").json()["paths"])
            yield Heron(server.base_url, workspace.key, workspace.app_id, limited, paths)
    finally:
        if BACKEND == "postgresql":
            drop_postgres_database(url)
