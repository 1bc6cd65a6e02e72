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

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.engine import Connection

from heron.store.bulk import insert_rows
from heron.store.schema import segment_members, segment_rechecks, segments

__all__ = ["forget_users", "note_changed_users", "note_users"]


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
        insert_rows(cur, "INSERT INTO segment_user_changes (user_id)", [(u,) for u in user_ids])


def note_users(conn: Connection, user_ids: Collection[int]) -> None:
    """`note_changed_users` for writes made through SQLAlchemy (identify, merge, alias/new)."""
    if user_ids:
        conn.execute(
            text("INSERT INTO segment_user_changes (user_id) VALUES (:u)"),
            [{"u": uid} for uid in sorted(set(user_ids))],
        )


def forget_users(conn: Connection, user_ids: Collection[int]) -> None:
    """Drop deleted users from every segment now (sizes included) and from the re-check list.

    The evaluator would find no profile to evaluate, so a deletion settles membership itself,
    in the transaction that deletes the profiles. Tracked rollups keep what they counted.
    """
    ids = sorted(set(user_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        removed = conn.execute(
            select(segment_members.c.segment_id, func.count())
            .where(segment_members.c.user_id.in_(chunk))
            .group_by(segment_members.c.segment_id)
        ).all()
        conn.execute(delete(segment_members).where(segment_members.c.user_id.in_(chunk)))
        conn.execute(delete(segment_rechecks).where(segment_rechecks.c.user_id.in_(chunk)))
        for segment_id, count in sorted(removed):
            conn.execute(
                update(segments)
                .where(segments.c.id == segment_id)
                .values(size=segments.c.size - int(count))
            )
