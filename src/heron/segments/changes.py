"""The one call `/users/track` makes into segments: note users whose attributes changed.

It appends the ids of the group's users whose attributes were applied, and of the profiles it
created, to `segment_user_changes` inside the ingest transaction (one statement per group,
whatever its size, after the raw rows: the evaluator's PostgreSQL barrier locks the tables in
that order) and does nothing else; the evaluator (heron.segments.consumer) reads the log later
and evaluates those users against every segment. Events and purchases need no note: the
evaluator reads new raw rows by id (and re-evaluates their users for the segments that look at
events, purchases or apps).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

__all__ = ["note_changed_users"]


def note_changed_users(cur: Any, postgres: bool, user_ids: Collection[int]) -> None:
    """Append the ids of users whose attributes this group changed, or whom it created."""
    if not user_ids:
        return
    user_ids = sorted(user_ids)
    if postgres:
        cur.execute(
            "INSERT INTO segment_user_changes (user_id) SELECT unnest(%s::bigint[])",
            (list(user_ids),),
        )
    else:
        cur.executemany(
            "INSERT INTO segment_user_changes (user_id) VALUES (?)", [(u,) for u in user_ids]
        )
