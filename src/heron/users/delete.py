"""`/users/delete`: remove profiles with their aliases, raw events and purchases.

Aggregates are not decremented (event and purchase rollups, KPI series, catalog first/last
seen), as in Braze; per-user rows (KPI active days) go with the profile. Afterwards no endpoint
returns anything of the profile, and a later `/users/track` with its external_id creates a new
profile with a new braze_id.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Connection

from heron.users import generation, history, lookup, profiles
from heron.users.parse import Target


def delete_users(conn: Connection, workspace_id: int, targets: Sequence[Target]) -> int:
    """Delete the profiles the identifiers name (unknown/ambiguous ones are skipped); count them."""
    generation.bump(conn, workspace_id)
    found = {lookup.resolve(conn, workspace_id, target) for target in targets}
    user_ids = sorted(uid for uid in found if uid is not None)
    history.delete_user_rows(conn, workspace_id, user_ids)
    profiles.drop(conn, workspace_id, user_ids)
    return len(user_ids)
