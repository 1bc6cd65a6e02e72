"""Per-workspace rate-limit overrides (`rate_limits` table): set by the CLI, read by servers."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine

from heron.ratelimit.buckets import BUCKETS
from heron.store.schema import rate_limits

__all__ = [
    "MAX_LIMIT",
    "MAX_PERIOD_SECONDS",
    "EffectiveLimit",
    "Override",
    "OverrideError",
    "effective_limits",
    "load_overrides",
    "remove_overrides",
    "set_override",
]

MAX_LIMIT = 1_000_000_000
MAX_PERIOD_SECONDS = 31 * 24 * 3600


class OverrideError(ValueError):
    """An override that cannot be stored; the message is shown to the operator."""


@dataclass(frozen=True, slots=True)
class Override:
    """A workspace's own numbers for one bucket."""

    workspace_id: int
    bucket: str
    limit: int
    period_seconds: int


@dataclass(frozen=True, slots=True)
class EffectiveLimit:
    """The numbers a workspace gets for a bucket, and whether they are an override."""

    bucket: str
    limit: int
    period_seconds: int
    overridden: bool
    description: str


def _validate(bucket: str, limit: int, period_seconds: int) -> None:
    """Refuse unknown buckets and numbers outside sensible ranges."""
    if bucket not in BUCKETS:
        raise OverrideError(f"unknown bucket {bucket!r}; known: {', '.join(BUCKETS)}")
    if not 1 <= limit <= MAX_LIMIT:
        raise OverrideError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
    if not 1 <= period_seconds <= MAX_PERIOD_SECONDS:
        raise OverrideError(
            f"period must be between 1 and {MAX_PERIOD_SECONDS} seconds, not {period_seconds}"
        )


def set_override(
    engine: Engine, workspace_id: int, bucket: str, limit: int, period_seconds: int
) -> Override:
    """Create or replace a workspace's override for one bucket."""
    _validate(bucket, limit, period_seconds)
    values = {
        "max_requests": limit,
        "period_seconds": period_seconds,
        "updated_at_ms": int(time.time() * 1000),
    }
    key = (rate_limits.c.workspace_id == workspace_id, rate_limits.c.bucket == bucket)
    with engine.begin() as conn:
        changed = conn.execute(update(rate_limits).where(*key).values(**values)).rowcount
        if not changed:
            conn.execute(
                insert(rate_limits).values(workspace_id=workspace_id, bucket=bucket, **values)
            )
    return Override(workspace_id, bucket, limit, period_seconds)


def remove_overrides(engine: Engine, workspace_id: int, bucket: str | None = None) -> int:
    """Drop a workspace's override for one bucket (or all of them); return how many went."""
    if bucket is not None and bucket not in BUCKETS:
        raise OverrideError(f"unknown bucket {bucket!r}; known: {', '.join(BUCKETS)}")
    query = delete(rate_limits).where(rate_limits.c.workspace_id == workspace_id)
    if bucket is not None:
        query = query.where(rate_limits.c.bucket == bucket)
    with engine.begin() as conn:
        return int(conn.execute(query).rowcount)


def load_overrides(
    engine: Engine, workspace_id: int | None = None
) -> dict[tuple[int, str], Override]:
    """Valid overrides (all, or one workspace's) by (workspace, bucket); unknown buckets skipped."""
    query = select(
        rate_limits.c.workspace_id,
        rate_limits.c.bucket,
        rate_limits.c.max_requests,
        rate_limits.c.period_seconds,
    )
    if workspace_id is not None:
        query = query.where(rate_limits.c.workspace_id == workspace_id)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    found: dict[tuple[int, str], Override] = {}
    for row in rows:
        if row.bucket in BUCKETS and row.max_requests >= 1 and row.period_seconds >= 1:
            found[(row.workspace_id, row.bucket)] = Override(
                row.workspace_id, row.bucket, row.max_requests, row.period_seconds
            )
    return found


def effective_limits(engine: Engine, workspace_id: int) -> list[EffectiveLimit]:
    """Every bucket with the numbers this workspace gets (its override, else Braze's default)."""
    overrides = {bucket: o for (_, bucket), o in load_overrides(engine, workspace_id).items()}
    result = []
    for bucket in BUCKETS.values():
        override = overrides.get(bucket.name)
        result.append(
            EffectiveLimit(
                bucket.name,
                override.limit if override else bucket.limit,
                override.period_seconds if override else bucket.period_seconds,
                override is not None,
                bucket.description,
            )
        )
    return result
