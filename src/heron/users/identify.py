"""`/users/identify`: give an alias-, email- or phone-only profile an external_id.

For each entry the anonymous profile is found (by alias, or by email/phone and its
`prioritization`); nothing happens when there is none, when the match is ambiguous, or when it
already has an external_id. If no profile has the external_id yet, the anonymous profile simply
receives it. Otherwise the anonymous profile is merged into the identified one
(heron.users.merge) and removed, except that an alias whose label the identified profile already
holds is not combined (Braze: one alias per label). `merge_behavior: "none"` moves only the
aliases and push tokens and drops the anonymous profile's data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from heron.users import generation, lookup, profiles
from heron.users.merge import merge_into
from heron.users.parse import Target


@dataclass(frozen=True, slots=True)
class Identification:
    """One entry: the external_id to give, and the anonymous profile's identifier."""

    external_id: str
    anonymous: Target


def identify(
    conn: Connection,
    workspace_id: int,
    entries: Sequence[Identification],
    now_ms: int,
    *,
    keep_data: bool = True,
) -> int:
    """Apply every entry in order (one transaction); return how many changed a profile."""
    generation.bump(conn, workspace_id)
    return sum(_identify_one(conn, workspace_id, e, now_ms, keep_data) for e in entries)


def _identify_one(
    conn: Connection, workspace_id: int, entry: Identification, now_ms: int, keep_data: bool
) -> bool:
    """Identify one anonymous profile; False when nothing was to be done."""
    anonymous = lookup.resolve(conn, workspace_id, entry.anonymous)
    if anonymous is None or profiles.load(conn, anonymous).external_id is not None:
        return False
    known = lookup.by_external_id(conn, workspace_id, entry.external_id)
    if known is None:
        profiles.set_external_id(conn, anonymous, entry.external_id, now_ms)
        return True
    ref = entry.anonymous.ref
    if ref.kind == "user_alias" and ref.label in profiles.alias_labels(conn, known):
        return False
    merge_into(conn, workspace_id, anonymous, known, now_ms, keep_data=keep_data)
    return True
