"""The one call `/users/track` makes into segments: note users whose attributes changed.

It appends the ids to `segment_user_changes` inside the ingest transaction (one statement per
group, whatever its size) and does nothing else; the evaluator (heron.segments.consumer) reads
the log later and re-evaluates those users. Events and purchases need no note: the evaluator
reads new raw rows by id.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

__all__ = ["note_changed_users"]


def note_changed_users(cur: Any, postgres: bool, user_ids: Collection[int]) -> None:
    """Append the ids of users whose attribute documents this group rewrote."""
    if not user_ids:
        return
    if postgres:
        cur.execute(
            "INSERT INTO segment_user_changes (user_id) SELECT unnest(%s::bigint[])",
            (list(user_ids),),
        )
    else:
        cur.executemany(
            "INSERT INTO segment_user_changes (user_id) VALUES (?)", [(u,) for u in user_ids]
        )
