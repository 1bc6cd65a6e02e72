"""Server settings, read from the environment (`HERON_*`) with defaults that run anywhere."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

DEFAULT_DATABASE_URL = "sqlite:///heron.db"


def _env_flag(name: str, default: bool) -> bool:
    """Read an on/off environment flag (`on/off`, `true/false`, `1/0`, `yes/no`)."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a heron process needs to know at start-up."""

    database_url: str = DEFAULT_DATABASE_URL
    rate_limits: bool = True
    # Rate-limit counters: in this process (None) or in Redis, shared by every heron process
    # using the same URL and key prefix (see heron.ratelimit).
    redis_url: str | None = None
    redis_prefix: str = "heron:ratelimit"
    # SQLite durability: FULL fsyncs the WAL at every (group) commit, so an acknowledged
    # request survives power loss; NORMAL survives only a crash of the process.
    sqlite_synchronous: str = "FULL"
    # Group commit: the writer takes every request queued so far, up to these bounds.
    max_group_requests: int = 256
    max_group_objects: int = 20_000
    max_array_length: int = 25
    # Segments (heron.segments): how many may have analytics tracking on, per workspace
    # (Braze's cap is 25), and whether this process runs the background evaluator.
    max_tracked_segments: int = 25
    segment_evaluator: bool = True
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, database_url: str | None = None) -> Settings:
        """Build settings from `HERON_*` variables; an explicit URL wins over the environment."""
        synchronous = os.environ.get("HERON_SQLITE_SYNCHRONOUS", "FULL").strip().upper()
        if synchronous not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError(
                f"HERON_SQLITE_SYNCHRONOUS must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}"
            )
        redis_url = os.environ.get("HERON_REDIS_URL", "").strip() or None
        if redis_url is not None and not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("HERON_REDIS_URL must be a redis://, rediss:// or unix:// URL")
        return cls(
            database_url=database_url
            or os.environ.get("HERON_DATABASE_URL")
            or DEFAULT_DATABASE_URL,
            rate_limits=_env_flag("HERON_RATE_LIMITS", True),
            redis_url=redis_url,
            redis_prefix=os.environ.get("HERON_REDIS_PREFIX", "").strip() or "heron:ratelimit",
            sqlite_synchronous=synchronous,
            max_tracked_segments=int(os.environ.get("HERON_MAX_TRACKED_SEGMENTS", "25")),
            segment_evaluator=_env_flag("HERON_SEGMENT_EVALUATOR", True),
        )
