"""Per-workspace identity generation: how ingest learns that identifiers were re-pointed.

`/users/track` caches identifier -> `users.id` per process (heron.ingest.trackstore). A merge,
identify, delete or alias rename run by *any* process can make those entries wrong. Every such
change bumps `workspaces.identity_generation` inside its own transaction (`bump`, the first
statement of the job), and the ingest writer reads the generation of its group's workspaces at
the start of each group transaction (`IdentityWatch.changed`), dropping its user caches when a
generation moved.

Ordering: on SQLite both run under the cross-process write lock, one after the other. On
PostgreSQL the group reads the rows `FOR SHARE` and the job updates the row first: a job waits
for the groups already running for that workspace to commit, and groups that start meanwhile
wait for the job to commit and then see the new generation (READ COMMITTED re-reads the row).
So a group never resolves an identifier against a profile that a committed job removed.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Connection

from heron.store.schema import workspaces


def bump(conn: Connection, workspace_id: int) -> None:
    """Move a workspace's identity generation on (and, on PostgreSQL, lock its row until commit)."""
    conn.execute(
        update(workspaces)
        .where(workspaces.c.id == workspace_id)
        .values(identity_generation=workspaces.c.identity_generation + 1)
    )


def hold(conn: Connection, workspace_id: int) -> None:
    """Serialize with ingest like `bump` without moving the generation (changes that only add).

    On PostgreSQL the no-op update still takes the row lock; on SQLite the write lock does it.
    """
    conn.execute(
        update(workspaces)
        .where(workspaces.c.id == workspace_id)
        .values(identity_generation=workspaces.c.identity_generation)
    )


class IdentityWatch:
    """Remembers the generation each workspace had when the ingest caches were filled."""

    def __init__(self, postgres: bool) -> None:
        self._postgres = postgres
        self._seen: dict[int, int] = {}

    def changed(self, cur: Any, workspace_ids: Collection[int]) -> bool:
        """Read the generations (DBAPI cursor, in the group's transaction); True if any moved."""
        ids = sorted(workspace_ids)
        if not ids:
            return False
        marks = ",".join(["%s" if self._postgres else "?"] * len(ids))
        lock = " FOR SHARE" if self._postgres else ""
        cur.execute(
            f"SELECT id, identity_generation FROM workspaces WHERE id IN ({marks}){lock}", ids
        )
        moved = False
        for ws, generation in cur.fetchall():
            known = self._seen.get(ws)
            if known is not None and known != generation:
                moved = True
            self._seen[ws] = int(generation)
        return moved
