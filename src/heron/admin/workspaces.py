"""Workspaces: the unit of data isolation, each with its own apps, keys, users and events."""

from __future__ import annotations

import time
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from heron.store.schema import workspaces


class AdminError(Exception):
    """A management command that cannot be carried out; the message is shown to the operator."""


@dataclass(frozen=True, slots=True)
class Workspace:
    """A workspace row."""

    id: int
    name: str
    time_zone: str
    created_at_ms: int


def _row_to_workspace(row: object) -> Workspace:
    """Map a `workspaces` row to the dataclass."""
    return Workspace(row.id, row.name, row.time_zone, row.created_at_ms)  # type: ignore[attr-defined]


def create_workspace(engine: Engine, name: str, time_zone: str = "UTC") -> Workspace:
    """Create a workspace; the name is unique and the time zone must be an IANA name."""
    name = name.strip()
    if not name:
        raise AdminError("workspace name must not be empty")
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise AdminError(f"unknown time zone {time_zone!r}") from exc
    now = int(time.time() * 1000)
    try:
        with engine.begin() as conn:
            result = conn.execute(
                insert(workspaces).values(name=name, time_zone=time_zone, created_at_ms=now)
            )
            new_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    except IntegrityError as exc:
        raise AdminError(f"workspace {name!r} already exists") from exc
    return Workspace(new_id, name, time_zone, now)


def list_workspaces(engine: Engine) -> list[Workspace]:
    """All workspaces, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(workspaces).order_by(workspaces.c.id)).all()
    return [_row_to_workspace(row) for row in rows]


def get_workspace(engine: Engine, name: str) -> Workspace:
    """Find a workspace by name, or raise AdminError."""
    with engine.connect() as conn:
        row = conn.execute(select(workspaces).where(workspaces.c.name == name)).first()
    if row is None:
        raise AdminError(f"no workspace named {name!r}")
    return _row_to_workspace(row)
