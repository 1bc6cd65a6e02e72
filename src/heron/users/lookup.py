"""Finding the profile an identifier names: external_id, alias, braze_id, email or phone.

Email and phone may match several profiles; Braze's `prioritization` picks one. Each rule
narrows the matches in order: `identified` / `unidentified` keep the profiles with / without an
external_id (a rule that would keep none is passed over, since a priority only ranks the
matches), `most_recently_updated` / `least_recently_updated` keep the profiles updated last /
first. One profile left: that one; several left: ambiguous, and nothing happens to any of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, select
from sqlalchemy.engine import Connection

from heron.ingest.records import UserRef
from heron.ingest.trackstore import email_key, phone_key
from heron.store.schema import user_aliases, users
from heron.users.parse import (
    IDENTIFIED,
    LEAST_RECENTLY_UPDATED,
    MOST_RECENTLY_UPDATED,
    UNIDENTIFIED,
    Target,
)


@dataclass(frozen=True, slots=True)
class Match:
    """A profile an email or phone matched, with what prioritization looks at."""

    id: int
    external_id: str | None
    updated_at_ms: int


def by_external_id(conn: Connection, workspace_id: int, external_id: str) -> int | None:
    """The profile with this external_id."""
    if "\x00" in external_id:  # never stored (and PostgreSQL refuses NUL in text)
        return None
    found = conn.execute(
        select(users.c.id).where(
            users.c.workspace_id == workspace_id, users.c.external_id == external_id
        )
    ).scalar()
    return None if found is None else int(found)


def by_braze_id(conn: Connection, workspace_id: int, braze_id: str) -> int | None:
    """The profile with this braze_id."""
    if "\x00" in braze_id:
        return None
    found = conn.execute(
        select(users.c.id).where(users.c.workspace_id == workspace_id, users.c.braze_id == braze_id)
    ).scalar()
    return None if found is None else int(found)


def by_alias(conn: Connection, workspace_id: int, label: str, name: str) -> int | None:
    """The profile holding the alias (label, name)."""
    if "\x00" in label or "\x00" in name:
        return None
    found = conn.execute(
        select(user_aliases.c.user_id).where(
            user_aliases.c.workspace_id == workspace_id,
            user_aliases.c.alias_label == label,
            user_aliases.c.alias_name == name,
        )
    ).scalar()
    return None if found is None else int(found)


def contact_matches(conn: Connection, workspace_id: int, ref: UserRef) -> list[Match]:
    """Every profile whose email (case-insensitive) or phone (digits) matches, oldest first."""
    if "\x00" in ref.value:
        return []
    if ref.kind == "email":
        condition = users.c.email_key == email_key(ref.value)
    else:
        condition = users.c.phone == phone_key(ref.value)
    rows = conn.execute(
        select(users.c.id, users.c.external_id, users.c.updated_at_ms)
        .where(and_(users.c.workspace_id == workspace_id, condition))
        .order_by(users.c.id)
    )
    return [Match(int(r.id), r.external_id, int(r.updated_at_ms)) for r in rows]


def prioritize(matches: Sequence[Match], order: Sequence[str]) -> Match | None:
    """The one profile `order` picks among `matches`; None when none matched or still ambiguous."""
    left = list(matches)
    for rule in order:
        if len(left) <= 1:
            break
        if rule in (IDENTIFIED, UNIDENTIFIED):
            kept = [m for m in left if (m.external_id is not None) == (rule == IDENTIFIED)]
            left = kept or left
        elif rule == MOST_RECENTLY_UPDATED:
            newest = max(m.updated_at_ms for m in left)
            left = [m for m in left if m.updated_at_ms == newest]
        elif rule == LEAST_RECENTLY_UPDATED:
            oldest = min(m.updated_at_ms for m in left)
            left = [m for m in left if m.updated_at_ms == oldest]
    return left[0] if len(left) == 1 else None


def resolve(conn: Connection, workspace_id: int, target: Target) -> int | None:
    """The profile an identifier names, or None (unknown, or an ambiguous email/phone)."""
    ref = target.ref
    if ref.kind == "external_id":
        return by_external_id(conn, workspace_id, ref.value)
    if ref.kind == "braze_id":
        return by_braze_id(conn, workspace_id, ref.value)
    if ref.kind == "user_alias":
        assert ref.label is not None
        return by_alias(conn, workspace_id, ref.label, ref.value)
    found = prioritize(contact_matches(conn, workspace_id, ref), target.prioritization)
    return None if found is None else found.id
