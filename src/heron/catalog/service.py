"""Catalog governance: pre-create, describe and tag, blocklist, unblock, trash, restore, revive.

Blocking functions for a worker thread (the HTTP layer) or the CLI. Every change is one short
write transaction scoped to one workspace; a refused change raises `CatalogError` and changes
nothing (bulk changes are all-or-nothing).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from heron.catalog.kinds import (
    ACTIVE,
    ATTRIBUTES,
    BLOCKLISTED,
    BLOCKLISTED_DAYS_BEFORE_TRASH,
    DAY_MS,
    DROPPED,
    EVENTS,
    LISTED,
    PRODUCTS,
    PURGED,
    PURGING,
    TRASHED,
    Kind,
)
from heron.ingest.attribute_values import format_epoch_ms
from heron.store.engine import WRITE_OPTION

Action = Literal["blocklist", "unblock", "trash", "restore"]
ACTIONS: tuple[Action, ...] = ("blocklist", "unblock", "trash", "restore")


class CatalogError(Exception):
    """A refused change: HTTP status, message and per-name details."""

    def __init__(self, status: int, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message if not errors else f"{message}: {'; '.join(errors)}")
        self.status = status
        self.message = message
        self.errors = errors or []


@dataclass(frozen=True, slots=True)
class Fields:
    """Editable fields of an entry; None = leave as is (or the default on create)."""

    description: str | None = None
    tag_names: tuple[str, ...] | None = None
    included_in_analytics_report: bool | None = None  # custom events only
    data_type: str | None = None  # custom attributes, on create only

    def values(self) -> dict[str, Any]:
        """The column values these fields set."""
        values: dict[str, Any] = {}
        if self.description is not None:
            values["description"] = self.description
        if self.tag_names is not None:
            values["tags"] = json.dumps(list(self.tag_names), ensure_ascii=False)
        if self.included_in_analytics_report is not None:
            values["included_in_analytics_report"] = self.included_in_analytics_report
        return values


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A write transaction (SQLite: BEGIN IMMEDIATE, so it queues instead of failing)."""
    with engine.connect() as conn:
        conn = conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            yield conn


def _locked(
    conn: Connection, kind: Kind, workspace_id: int, names: Sequence[str]
) -> list[Row[Any]]:
    """The rows of `names` (any status), locked for update where the database can."""
    t = kind.table
    query = select(t).where(t.c.workspace_id == workspace_id, t.c.name.in_(list(names)))
    return list(conn.execute(query.with_for_update()).all())


def _missing(kind: Kind, name: str) -> str:
    """The message for a name the catalog does not list."""
    return f"{kind.singular} '{name}' does not exist"


def create(
    engine: Engine, kind: Kind, workspace_id: int, name: str, fields: Fields, now_ms: int
) -> Row[Any]:
    """Pre-create an entry (Active) before it is ever tracked; a purged name is reused."""
    t = kind.table
    values: dict[str, Any] = {
        "description": "",
        "tags": "[]",
        **fields.values(),
        "status": ACTIVE,
        "created_at_ms": now_ms,
        "first_seen_ms": None,
        "last_seen_ms": None,
        "blocklisted_at_ms": None,
    }
    if kind.trashable:
        values["trashed_at_ms"] = None
    if kind is ATTRIBUTES:
        values["data_type"] = fields.data_type or "String"
    if kind is EVENTS:
        values.setdefault("included_in_analytics_report", False)
    try:
        with write(engine) as conn:
            found = _locked(conn, kind, workspace_id, [name])
            if found and found[0].status == PURGING:
                raise CatalogError(409, f"{kind.singular} '{name}' is being purged: retry later")
            if found and found[0].status != PURGED:
                raise CatalogError(409, f"{kind.singular} '{name}' already exists")
            if found:
                conn.execute(update(t).where(t.c.id == found[0].id).values(**values))
            else:
                conn.execute(insert(t).values(workspace_id=workspace_id, name=name, **values))
            row = _locked(conn, kind, workspace_id, [name])[0]
    except IntegrityError:  # tracked for the first time meanwhile
        raise CatalogError(409, f"{kind.singular} '{name}' already exists") from None
    return row


def edit(engine: Engine, kind: Kind, workspace_id: int, name: str, fields: Fields) -> Row[Any]:
    """Set an entry's description, tags and (events) analytics-report flag."""
    t = kind.table
    with write(engine) as conn:
        found = [row for row in _locked(conn, kind, workspace_id, [name]) if row.status in LISTED]
        if not found:
            raise CatalogError(404, _missing(kind, name))
        values = fields.values()
        if values:
            conn.execute(update(t).where(t.c.id == found[0].id).values(**values))
        return _locked(conn, kind, workspace_id, [name])[0]


def _when(ms: int) -> str:
    """A time for a message."""
    return format_epoch_ms(ms)


def _transition(kind: Kind, action: Action, row: Any, now_ms: int) -> dict[str, Any] | str | None:
    """The column changes `action` makes to `row`: values, None (already there) or a refusal."""
    status, name = row.status, row.name
    if action == "blocklist":
        if status == ACTIVE:
            return {"status": BLOCKLISTED, "blocklisted_at_ms": now_ms}
        if status == BLOCKLISTED:
            return None
        return f"{kind.singular} '{name}' is {status}: restore it instead"
    if action == "unblock":
        if status == BLOCKLISTED:
            return {"status": ACTIVE, "blocklisted_at_ms": None}
        if status == ACTIVE:
            return None
        return f"{kind.singular} '{name}' is {status}: restore it first"
    if action == "trash":
        if status == TRASHED:
            return None
        if status != BLOCKLISTED:
            return f"{kind.singular} '{name}' is {status}: only a blocklisted entry can be trashed"
        since = row.blocklisted_at_ms  # None: blocklisted before heron recorded the time
        allowed = 0 if since is None else since + BLOCKLISTED_DAYS_BEFORE_TRASH * DAY_MS
        if since is not None and now_ms < allowed:
            return (
                f"{kind.singular} '{name}' has been blocklisted since {_when(since)}: it can be"
                f" trashed from {_when(allowed)} ({BLOCKLISTED_DAYS_BEFORE_TRASH} days)"
            )
        return {"status": TRASHED, "trashed_at_ms": now_ms}
    if status == TRASHED:  # restore
        return {"status": BLOCKLISTED, "trashed_at_ms": None}
    if status == BLOCKLISTED:
        return None
    return f"{kind.singular} '{name}' is {status}: only a trashed entry can be restored"


def change_status(
    engine: Engine, kind: Kind, workspace_id: int, names: Sequence[str], action: Action, now_ms: int
) -> list[Row[Any]]:
    """Apply one action to every name, or to none of them (all-or-nothing); rows by name."""
    if action in ("trash", "restore") and not kind.trashable:
        raise CatalogError(400, f"{kind.singular} entries cannot be trashed or restored")
    wanted = sorted(set(names))
    t = kind.table
    with write(engine) as conn:
        rows = {row.name: row for row in _locked(conn, kind, workspace_id, wanted)}
        missing = [
            _missing(kind, n) for n in wanted if n not in rows or rows[n].status not in LISTED
        ]
        if missing:
            raise CatalogError(404, f"Unknown {kind.singular} names", missing)
        changes: dict[int, dict[str, Any]] = {}
        refused: list[str] = []
        for name in wanted:
            outcome = _transition(kind, action, rows[name], now_ms)
            if isinstance(outcome, str):
                refused.append(outcome)
            elif outcome is not None:
                changes[rows[name].id] = outcome
        if refused:
            raise CatalogError(409, f"Cannot {action} these {kind.singular} names", refused)
        if action == "blocklist" and kind.max_blocklisted is not None and changes:
            _check_blocklist_room(conn, kind, workspace_id, len(changes))
        for row_id, values in changes.items():
            conn.execute(update(t).where(t.c.id == row_id).values(**values))
        return sorted(_locked(conn, kind, workspace_id, wanted), key=lambda row: row.name)


def _check_blocklist_room(conn: Connection, kind: Kind, workspace_id: int, adding: int) -> None:
    """Refuse going over Braze's per-workspace blocklist size (Trashed entries count)."""
    assert kind.max_blocklisted is not None
    t = kind.table
    current = conn.execute(
        select(func.count()).where(t.c.workspace_id == workspace_id, t.c.status.in_(DROPPED))
    ).scalar_one()
    if current + adding > kind.max_blocklisted:
        raise CatalogError(
            409,
            f"At most {kind.max_blocklisted} {kind.singular} names may be blocklisted (Trashed"
            f" included); {current} are, and this would add {adding}",
        )


def revive(
    engine: Engine,
    workspace_id: int,
    events: dict[str, tuple[int, int]],
    attributes: dict[str, str],
    now_ms: int,
) -> None:
    """Make purged names tracked again Active (fresh entries): events with their time span,
    attributes with their data type. Called by ingest before the objects are stored."""
    with write(engine) as conn:
        for name, (first, last) in events.items():
            t = EVENTS.table
            conn.execute(
                update(t)
                .where(t.c.workspace_id == workspace_id, t.c.name == name, t.c.status == PURGED)
                .values(status=ACTIVE, created_at_ms=now_ms, first_seen_ms=first, last_seen_ms=last)
            )
        for name, data_type in attributes.items():
            t = ATTRIBUTES.table
            conn.execute(
                update(t)
                .where(t.c.workspace_id == workspace_id, t.c.name == name, t.c.status == PURGED)
                .values(
                    status=ACTIVE,
                    data_type=data_type,
                    created_at_ms=now_ms,
                    first_seen_ms=now_ms,
                    last_seen_ms=now_ms,
                )
            )


def drop_lists(conn: Connection, workspace_id: int) -> dict[str, tuple[list[str], list[str]]]:
    """Per catalog key: (names ingest must drop, purged names it must revive when tracked)."""
    found: dict[str, tuple[list[str], list[str]]] = {}
    for kind in (EVENTS, ATTRIBUTES, PRODUCTS):
        t = kind.table
        rows = conn.execute(
            select(t.c.name, t.c.status).where(
                t.c.workspace_id == workspace_id, t.c.status.in_((*DROPPED, PURGED))
            )
        ).all()
        found[kind.key] = (
            [r.name for r in rows if r.status != PURGED],
            [r.name for r in rows if r.status == PURGED],
        )
    return found
