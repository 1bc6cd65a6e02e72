"""Profile rows for the identity endpoints: load, save, create, drop (in the caller's transaction).

A profile is a `users` row (identifier columns plus the `standard` / `custom` JSON documents
heron.users.profile edits) and its `user_aliases` rows. Dropping a profile also drops its
per-user KPI rows (which days it was active): they describe one person. The KPI *aggregates*
(`kpi_daily`) are never decremented, as Braze's are not.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from heron.analytics.kpi import LocalDays
from heron.ingest.trackstore import email_key, new_braze_id, phone_key
from heron.segments import changes as segment_changes
from heron.store.driver import unindexed
from heron.store.schema import (
    ALL_APPS,
    kpi_daily,
    kpi_user_days,
    kpi_users,
    kpi_waiting,
    user_aliases,
    users,
    workspaces,
)


@dataclass(slots=True)
class Profile:
    """One user's row, decoded."""

    id: int
    braze_id: str
    external_id: str | None
    created_at_ms: int
    updated_at_ms: int
    standard: dict[str, Any]
    custom: dict[str, Any]


def load(conn: Connection, user_id: int) -> Profile:
    """Read one profile (it must exist)."""
    row = conn.execute(
        select(
            users.c.id,
            users.c.braze_id,
            users.c.external_id,
            users.c.created_at_ms,
            users.c.updated_at_ms,
            users.c.standard,
            users.c.custom,
        ).where(users.c.id == user_id)
    ).one()
    return Profile(
        int(row.id),
        row.braze_id,
        row.external_id,
        int(row.created_at_ms),
        int(row.updated_at_ms),
        msgspec.json.decode(row.standard),
        msgspec.json.decode(row.custom),
    )


def save(conn: Connection, profile: Profile, now_ms: int) -> None:
    """Write a profile's documents back, with the email/phone matching columns they imply."""
    email = profile.standard.get("email")
    phone = profile.standard.get("phone")
    conn.execute(
        update(users)
        .where(users.c.id == profile.id)
        .values(
            standard=msgspec.json.encode(profile.standard).decode(),
            custom=msgspec.json.encode(profile.custom).decode(),
            email=email if isinstance(email, str) else None,
            email_key=email_key(email) if isinstance(email, str) else None,
            phone=phone_key(phone) if isinstance(phone, str) else None,
            updated_at_ms=now_ms,
        )
    )
    segment_changes.note_users(conn, [profile.id])  # merged attributes and history


def set_external_id(conn: Connection, user_id: int, external_id: str, now_ms: int) -> None:
    """Identify a profile: give it an external_id."""
    conn.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(external_id=external_id, updated_at_ms=now_ms)
    )


def touch(conn: Connection, user_id: int, now_ms: int) -> None:
    """Mark a profile as updated now (prioritization looks at it)."""
    conn.execute(update(users).where(users.c.id == user_id).values(updated_at_ms=now_ms))


def alias_labels(conn: Connection, user_id: int) -> set[str]:
    """The labels of a profile's aliases (a profile has at most one alias per label)."""
    rows = conn.execute(select(user_aliases.c.alias_label).where(user_aliases.c.user_id == user_id))
    return {label for (label,) in rows}


def aliases_of(conn: Connection, user_ids: Iterable[int]) -> dict[int, list[tuple[str, str]]]:
    """Each profile's aliases as (name, label), in the order they were added."""
    found: dict[int, list[tuple[str, str]]] = {}
    ids = sorted(set(user_ids))
    if not ids:
        return found
    rows = conn.execute(
        select(user_aliases.c.user_id, user_aliases.c.alias_name, user_aliases.c.alias_label)
        .where(user_aliases.c.user_id.in_(ids))
        .order_by(user_aliases.c.id)
    )
    for uid, name, label in rows:
        found.setdefault(int(uid), []).append((name, label))
    return found


def add_alias(conn: Connection, workspace_id: int, user_id: int, name: str, label: str) -> None:
    """Attach an alias to a profile (the caller checked it is free)."""
    conn.execute(
        insert(user_aliases).values(
            workspace_id=workspace_id, user_id=user_id, alias_label=label, alias_name=name
        )
    )


def create(conn: Connection, workspace_id: int, now_ms: int) -> int:
    """Create an empty profile (an alias-only user once an alias is added) and count it as new."""
    result = conn.execute(
        insert(users).values(
            workspace_id=workspace_id,
            braze_id=new_braze_id(),
            created_at_ms=now_ms,
            updated_at_ms=now_ms,
            standard="{}",
            custom="{}",
        )
    )
    _count_new_user(conn, workspace_id, now_ms)
    user_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    segment_changes.note_users(conn, [user_id])
    return user_id


def _count_new_user(conn: Connection, workspace_id: int, now_ms: int) -> None:
    """Add one to the workspace's `new_users` KPI of today, as ingest does for new profiles."""
    zone = conn.execute(
        select(workspaces.c.time_zone).where(workspaces.c.id == workspace_id)
    ).scalar_one()
    day = LocalDays(zone).day_of(now_ms)
    upsert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = upsert(kpi_daily).values(
        workspace_id=workspace_id, app_id=ALL_APPS, day=day, dau=0, new_users=1, mau_delta=0
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["workspace_id", "app_id", "day"],
            set_={"new_users": kpi_daily.c.new_users + 1},
        )
    )


def drop(conn: Connection, workspace_id: int, user_ids: Iterable[int]) -> None:
    """Remove profiles, their aliases and their per-user KPI rows (not their events)."""
    ids = sorted(set(user_ids))
    if not ids:
        return
    conn.execute(delete(user_aliases).where(user_aliases.c.user_id.in_(ids)))
    for table in (kpi_user_days, kpi_users, *kpi_waiting):
        conn.execute(
            delete(table).where(table.c.workspace_id == workspace_id, table.c.user_id.in_(ids))
        )
    conn.execute(
        delete(users).where(unindexed(users.c.workspace_id) == workspace_id, users.c.id.in_(ids))
    )
    segment_changes.forget_users(conn, ids)


def now_ms() -> int:
    """The current time in epoch milliseconds."""
    return int(time.time() * 1000)
