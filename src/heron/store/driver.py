"""Driver-level statements for hot read loops: plain SQL, positional parameters, id lists.

`text()` statements with hundreds of named parameters cost SQLAlchemy a parse, a cache key and a
parameter dict per call, and row-by-row fetching wraps each row; the segment evaluator and the
user history run such reads thousands of times per second. Here a statement is a string with
the backend's own placeholder, an id list is one parameter of any length (an array on
PostgreSQL, `= ANY(%s)`; a JSON array on SQLite, `IN (SELECT value FROM json_each(?))`, which
SQLite reads as a list of key seeks), and rows come back in one `fetchall`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy.engine import Connection

__all__ = ["READ_CHUNK", "fetch", "in_ids", "mark", "raw_cursor", "unindexed"]

READ_CHUNK = 20_000  # ids per list parameter: bounds one statement's work, not a driver limit
_encode = msgspec.json.encode


def mark(conn: Connection) -> str:
    """The backend's positional placeholder."""
    return "%s" if conn.dialect.name == "postgresql" else "?"


def in_ids(conn: Connection, column: str, ids: Sequence[int]) -> tuple[str, list[Any]]:
    """SQL for `column` is one of `ids`, and its one positional parameter."""
    if conn.dialect.name == "postgresql":
        return f"{column} = ANY(%s)", [[int(i) for i in ids]]
    return f"{column} IN (SELECT value FROM json_each(?))", [_encode([int(i) for i in ids])]


def raw_cursor(conn: Connection) -> Any:
    """A DBAPI cursor in the connection's current transaction (close it when done)."""
    raw = conn.connection.driver_connection
    assert raw is not None
    return raw.cursor()


def fetch(conn: Connection, sql: str, params: Sequence[Any]) -> list[Any]:
    """Every row of a driver-level statement (tuples; `sql` uses `mark(conn)` placeholders)."""
    return list(conn.exec_driver_sql(sql, tuple(params)).fetchall())


def unindexed(column: Any) -> Any:
    """`column + 0`: the same value, but no index on `column` can serve the comparison.

    For `workspace_id = ? AND id IN (...)` on `users`, SQLite's planner may pick the
    (workspace_id, external_id) index and walk every user of the workspace instead of seeking
    the ids by primary key; comparing `workspace_id + 0` leaves it only the primary key.
    """
    return column + 0
