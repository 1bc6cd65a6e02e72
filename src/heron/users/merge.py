"""Folding one profile into another (`/users/merge`, and `/users/identify` of a known external_id).

Braze's rules, for the profile kept (the *target*) and the one merged (the *source*):
- profile fields (first/last name, email, gender, dob, phone, time zone, home city, country,
  language, and every other standard field) are taken from the source only where the target
  has none; `date_of_first_session` is the earlier and `date_of_last_session` the later of the
  two; push tokens and subscription-group states are united (the target's win for one key);
- custom attributes: the target keeps its own and gains those only the source has;
- custom events and purchases: the source's raw rows are moved to the target, so the per-user
  summaries (count summed, first = earlier, last = later) follow from the stored data;
- aliases: the source's aliases move to the target, except for labels the target already has
  (a profile holds one alias per label); those are dropped with the source;
- the source profile is removed; the target's external_id, braze_id and created_at stay.
KPI and rollup aggregates are not rewritten: they already counted the source's activity.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Connection

from heron.ingest.timefmt import parse_datetime_value
from heron.store.schema import user_aliases
from heron.users import generation, history, lookup, profiles
from heron.users.parse import Target

_EARLIER = "date_of_first_session"
_LATER = "date_of_last_session"
_UNITED: dict[str, tuple[str, ...]] = {
    "push_tokens": ("app_id", "token"),
    "subscription_groups": ("subscription_group_id",),
}


def _pick_time(mine: Any, theirs: Any, earlier: bool) -> Any:
    """The earlier (or later) of two stored datetime strings; the one that parses if only one."""
    a = parse_datetime_value(mine) if isinstance(mine, str) else None
    b = parse_datetime_value(theirs) if isinstance(theirs, str) else None
    if a is None:
        return theirs if b is not None else mine
    if b is None:
        return mine
    return theirs if (b < a if earlier else b > a) else mine


def _unite(target: Any, source: Any, key: tuple[str, ...]) -> list[Any]:
    """The target's entries, then the source's entries whose key the target lacks."""
    kept = [e for e in target if isinstance(e, dict)] if isinstance(target, list) else []
    known = {tuple(e.get(part) for part in key) for e in kept}
    extra = [
        e
        for e in (source if isinstance(source, list) else [])
        if isinstance(e, dict) and tuple(e.get(part) for part in key) not in known
    ]
    return kept + extra


def fold_standard(target: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    """The target's profile fields completed from the source's, by Braze's merge rules."""
    merged = dict(target)
    for field, value in source.items():
        if field in (_EARLIER, _LATER) and field in merged:
            merged[field] = _pick_time(merged[field], value, field == _EARLIER)
        elif field in _UNITED and field in merged:
            merged[field] = _unite(merged[field], value, _UNITED[field])
        elif field not in merged:
            merged[field] = value
    return merged


def fold_custom(target: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    """The target's custom attributes plus the ones only the source has."""
    return {**source, **target} if source else dict(target)


def merge_into(
    conn: Connection,
    workspace_id: int,
    source_id: int,
    target_id: int,
    now_ms: int,
    *,
    keep_data: bool = True,
) -> None:
    """Fold `source_id` into `target_id` and remove the source (in the caller's transaction).

    `keep_data=False` is `/users/identify` with `merge_behavior: "none"`: only the aliases and
    push tokens move; the source's attributes, events and purchases are dropped with it.
    """
    source = profiles.load(conn, source_id)
    target = profiles.load(conn, target_id)
    if keep_data:
        target.standard = fold_standard(target.standard, source.standard)
        target.custom = fold_custom(target.custom, source.custom)
        history.reassign_user(conn, workspace_id, source_id, target_id)
    else:
        tokens = source.standard.get("push_tokens")
        if tokens:
            target.standard["push_tokens"] = _unite(
                target.standard.get("push_tokens"), tokens, _UNITED["push_tokens"]
            )
        history.delete_user_rows(conn, workspace_id, [source_id])
    taken = profiles.alias_labels(conn, target_id)
    statement = update(user_aliases).where(user_aliases.c.user_id == source_id)
    if taken:
        statement = statement.where(user_aliases.c.alias_label.not_in(sorted(taken)))
    conn.execute(statement.values(user_id=target_id))
    profiles.drop(conn, workspace_id, [source_id])
    profiles.save(conn, target, now_ms)


def merge_users(
    conn: Connection,
    workspace_id: int,
    updates: Sequence[tuple[Target, Target]],
    now_ms: int,
) -> int:
    """`/users/merge`: apply each (to merge, to keep) pair in order; return how many merged.

    A pair is skipped when either side names no profile (or an ambiguous email/phone) or both
    name the same profile.
    """
    generation.bump(conn, workspace_id)
    merged = 0
    for to_merge, to_keep in updates:
        source = lookup.resolve(conn, workspace_id, to_merge)
        target = lookup.resolve(conn, workspace_id, to_keep)
        if source is None or target is None or source == target:
            continue
        merge_into(conn, workspace_id, source, target, now_ms)
        merged += 1
    return merged
