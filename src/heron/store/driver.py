"""Driver-level statements for hot read loops: plain SQL, positional parameters, id lists.

`text()` statements with hundreds of named parameters cost SQLAlchemy a parse, a cache key and a
parameter dict per call, and row-by-row fetching wraps each row; the segment evaluator and the
user history run such reads thousands of times per second. Here a statement is a string with
the backend's own placeholder, an id list is one array parameter on PostgreSQL (`= ANY(%s)`)
and an inline placeholder list on SQLite, and rows come back in one `fetchall`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection

__all__ = ["fetch", "in_ids", "mark"]


def mark(conn: Connection) -> str:
    """The backend's positional placeholder."""
    return "%s" if conn.dialect.name == "postgresql" else "?"


def in_ids(conn: Connection, column: str, ids: Sequence[int]) -> tuple[str, list[Any]]:
    """SQL for `column` is one of `ids` (non-empty), and its positional parameters."""
    if conn.dialect.name == "postgresql":
        return f"{column} = ANY(%s)", [[int(i) for i in ids]]
    return f"{column} IN ({','.join('?' * len(ids))})", [int(i) for i in ids]


def fetch(conn: Connection, sql: str, params: Sequence[Any]) -> list[Any]:
    """Every row of a driver-level statement (tuples; `sql` uses `mark(conn)` placeholders)."""
    return list(conn.exec_driver_sql(sql, tuple(params)).fetchall())
