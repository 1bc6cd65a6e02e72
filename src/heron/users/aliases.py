"""`/users/alias/new` and `/users/alias/update`: attach, create and rename user aliases.

New alias with an `external_id`: added to that profile, unless no profile has the external_id
(added to nobody, as Braze says), the alias (label, name) already belongs to a profile, or the
profile already has an alias with that label (one alias per label). Without an `external_id`:
a new alias-only profile, unless the alias is taken. Update: the alias (label, old name) is
renamed, unless it does not exist or (label, new name) is taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.engine import Connection

from heron.store.schema import user_aliases
from heron.users import generation, lookup, profiles


@dataclass(frozen=True, slots=True)
class NewAlias:
    """One `user_aliases` entry of `/users/alias/new`."""

    name: str
    label: str
    external_id: str | None


@dataclass(frozen=True, slots=True)
class AliasRename:
    """One `alias_updates` entry of `/users/alias/update`."""

    label: str
    old_name: str
    new_name: str


def add_aliases(
    conn: Connection, workspace_id: int, entries: Sequence[NewAlias], now_ms: int
) -> int:
    """Apply every new alias in order (one transaction); return how many were added."""
    generation.hold(conn, workspace_id)
    added = 0
    for entry in entries:
        if lookup.by_alias(conn, workspace_id, entry.label, entry.name) is not None:
            continue
        if entry.external_id is None:
            user_id = profiles.create(conn, workspace_id, now_ms)
        else:
            found = lookup.by_external_id(conn, workspace_id, entry.external_id)
            if found is None or entry.label in profiles.alias_labels(conn, found):
                continue
            user_id = found
            profiles.touch(conn, user_id, now_ms)
        profiles.add_alias(conn, workspace_id, user_id, entry.name, entry.label)
        added += 1
    return added


def rename_aliases(
    conn: Connection, workspace_id: int, entries: Sequence[AliasRename], now_ms: int
) -> int:
    """Apply every rename in order (one transaction); return how many aliases changed."""
    generation.bump(conn, workspace_id)
    renamed = 0
    for entry in entries:
        owner = lookup.by_alias(conn, workspace_id, entry.label, entry.old_name)
        if owner is None or entry.old_name == entry.new_name:
            continue
        if lookup.by_alias(conn, workspace_id, entry.label, entry.new_name) is not None:
            continue
        conn.execute(
            update(user_aliases)
            .where(
                user_aliases.c.workspace_id == workspace_id,
                user_aliases.c.alias_label == entry.label,
                user_aliases.c.alias_name == entry.old_name,
            )
            .values(alias_name=entry.new_name)
        )
        profiles.touch(conn, owner, now_ms)
        renamed += 1
    return renamed
