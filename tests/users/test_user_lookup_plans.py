"""Looking users up by id within a workspace seeks the primary key on SQLite (regression).

`workspace_id = ? AND id IN (...)` let SQLite's planner walk the (workspace_id, external_id)
index, i.e. every user of the workspace, for a user delete (under the write lock), a user export
by id and the campaign recorders' user check. They now compare `workspace_id + 0`.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import Engine

from conftest import BACKEND, Workspace, make_workspace
from heron.campaigns import recording
from heron.store.schema import users
from heron.users import export, profiles

pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite's query planner")


def _add_users(engine: Engine, workspace_id: int, count: int) -> list[int]:
    """Insert bare profiles; return their ids."""
    with engine.begin() as conn:
        conn.execute(
            users.insert(),
            [
                {
                    "workspace_id": workspace_id,
                    "braze_id": f"{workspace_id:04d}{n:020d}",
                    "external_id": f"w{workspace_id}-u{n}",
                    "created_at_ms": 0,
                    "updated_at_ms": 0,
                    "standard": "{}",
                    "custom": "{}",
                }
                for n in range(count)
            ],
        )
        return list(
            conn.execute(select(users.c.id).where(users.c.workspace_id == workspace_id)).scalars()
        )


def _plans(engine: Engine, work: Any) -> list[str]:
    """The query plan of every statement on `users` that `work(conn)` runs."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "users" in statement and "user_aliases" not in statement and "kpi_" not in statement:
            seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", record)
    try:
        with engine.begin() as conn:
            work(conn)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    plans = []
    with engine.connect() as conn:
        for statement, params in seen:
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
            plans.append(" | ".join(str(row[-1]) for row in rows))
    assert plans, "no statement on users ran"
    return plans


def test_delete_export_and_check_seek_users_by_primary_key(
    engine: Engine, workspace: Workspace
) -> None:
    """Each statement reads `users` by INTEGER PRIMARY KEY, never by the workspace index."""
    other = make_workspace(engine, "other")
    mine = _add_users(engine, workspace.id, 300)
    theirs = _add_users(engine, other.id, 5)
    wanted = [*mine[:3], theirs[0]]

    def run(conn: Any) -> None:
        exported = export.export_users(conn, workspace.id, wanted, frozenset({"external_id"}), 0)
        assert len(exported) == 3  # the other workspace's user never matches
        recording._check_users(conn, workspace.id, mine[:3])
        profiles.drop(conn, workspace.id, [mine[0], theirs[0]])

    for plan in _plans(engine, run):
        assert "USING INDEX sqlite_autoindex_users" not in plan, plan
    with engine.connect() as conn:
        left = set(conn.execute(select(users.c.id)).scalars())
    assert mine[0] not in left and theirs[0] in left  # drop stays within its workspace
