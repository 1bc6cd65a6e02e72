"""Apps of a workspace: each has a public `app_id` that events and analytics filter on."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from heron.admin.workspaces import AdminError
from heron.store.schema import apps


@dataclass(frozen=True, slots=True)
class App:
    """An app row: `api_id` is the Braze-style app identifier clients send as `app_id`."""

    id: int
    workspace_id: int
    api_id: str
    name: str


def create_app(engine: Engine, workspace_id: int, name: str) -> App:
    """Create an app with a fresh random app identifier (a UUID, as Braze's)."""
    name = name.strip()
    if not name:
        raise AdminError("app name must not be empty")
    api_id = str(uuid.uuid4())
    with engine.begin() as conn:
        result = conn.execute(
            insert(apps).values(
                workspace_id=workspace_id,
                api_id=api_id,
                name=name,
                created_at_ms=int(time.time() * 1000),
            )
        )
        new_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    return App(new_id, workspace_id, api_id, name)


def list_apps(engine: Engine, workspace_id: int) -> list[App]:
    """The apps of one workspace, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(apps).where(apps.c.workspace_id == workspace_id).order_by(apps.c.id)
        ).all()
    return [App(r.id, r.workspace_id, r.api_id, r.name) for r in rows]
