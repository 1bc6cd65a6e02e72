"""Catalog reads: keyset pages by name, name-only offset pages, one entry by name."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, Select, exists, select
from sqlalchemy.engine import Connection

from heron.catalog import cursor
from heron.catalog.kinds import ACTIVE, LISTED, Kind

# Braze: /events and /custom_attributes return 50 per page, /events/list 250.
PAGE_SIZE = 50
NAMES_PAGE_SIZE = 250
PRODUCTS_PAGE_SIZE = 100  # /purchases/product_list (Braze does not say; heron's choice)
# A page number whose offset is past any real catalog: answered empty without a query.
MAX_PAGE_OFFSET = 2**53


@dataclass(frozen=True, slots=True)
class Page:
    """One page of catalog rows and the cursors of its neighbours (None: no such page)."""

    rows: Sequence[Row[Any]]
    prev: str | None
    next: str | None


def _visible(kind: Kind, workspace_id: int, statuses: Sequence[str]) -> Select[Any]:
    """Entries of one workspace's catalog with one of `statuses`."""
    t = kind.table
    return select(t).where(t.c.workspace_id == workspace_id, t.c.status.in_(statuses))


def _any(conn: Connection, query: Select[Any]) -> bool:
    """True when the query has a row."""
    return bool(conn.execute(select(exists(query))).scalar())


def page(
    conn: Connection,
    kind: Kind,
    workspace_id: int,
    position: cursor.Position | None,
    statuses: Sequence[str] = LISTED,
    size: int = PAGE_SIZE,
) -> Page:
    """The page at `position` (None: the first), sorted by name in code-point order."""
    base = _visible(kind, workspace_id, statuses)
    name = kind.table.c.name
    if position is None or position.direction == "skip":
        skip = 0 if position is None else position.skip
        rows = conn.execute(base.order_by(name).offset(skip).limit(size + 1)).all()
        more_after = len(rows) > size
        rows = rows[:size]
        more_before = skip > 0 and (bool(rows) or _any(conn, base))
    elif position.direction == "after":
        assert position.name is not None
        query = base.where(name > position.name).order_by(name).limit(size + 1)
        rows = conn.execute(query).all()
        more_after = len(rows) > size
        rows = rows[:size]
        edge = rows[0].name if rows else position.name
        more_before = _any(conn, base.where(name < edge) if rows else base.where(name <= edge))
    else:
        query = base.order_by(name.desc()).limit(size + 1)
        if position.name is not None:
            query = query.where(name < position.name)
        rows = conn.execute(query).all()
        more_before = len(rows) > size
        rows = list(reversed(rows[:size]))
        more_after = position.name is not None and _any(
            conn, base.where(name > rows[-1].name) if rows else base.where(name >= position.name)
        )
    return Page(rows, _prev_cursor(rows, more_before), _next_cursor(rows, more_after))


def _prev_cursor(rows: Sequence[Row[Any]], more_before: bool) -> str | None:
    """The cursor back to the previous page (from an empty page: the last page)."""
    if not more_before:
        return None
    return cursor.before(rows[0].name) if rows else "p"


def _next_cursor(rows: Sequence[Row[Any]], more_after: bool) -> str | None:
    """The cursor on to the next page (from an empty page: the first page)."""
    if not more_after:
        return None
    return cursor.after(rows[-1].name) if rows else "n"


def names(
    conn: Connection, kind: Kind, workspace_id: int, page_number: int, size: int
) -> list[str]:
    """One page of Active names, sorted; empty past the end."""
    offset = page_number * size
    if offset >= MAX_PAGE_OFFSET:
        return []
    t = kind.table
    query = (
        select(t.c.name)
        .where(t.c.workspace_id == workspace_id, t.c.status == ACTIVE)
        .order_by(t.c.name)
        .offset(offset)
        .limit(size)
    )
    return list(conn.execute(query).scalars())


def entry(
    conn: Connection, kind: Kind, workspace_id: int, name: str, statuses: Sequence[str] = LISTED
) -> Row[Any] | None:
    """One entry by exact name (None when absent or not in `statuses`)."""
    t = kind.table
    return conn.execute(_visible(kind, workspace_id, statuses).where(t.c.name == name)).first()
