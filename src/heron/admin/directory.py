"""The server's view of each workspace's apps: `app_id` -> internal key, refreshed on demand."""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from heron.store.schema import apps

# An unknown app_id triggers at most one reload per workspace per this many seconds.
RELOAD_INTERVAL_SECONDS = 0.5


class AppDirectory:
    """Caches the apps of each workspace; an app created by the CLI is seen on first use."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._apps: dict[int, dict[str, int]] = {}
        self._loaded_at: dict[int, float] = {}

    def _load(self, workspace_id: int) -> dict[str, int]:
        """Read a workspace's apps from the database."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(apps.c.api_id, apps.c.id).where(apps.c.workspace_id == workspace_id)
            ).all()
        return {api_id: app_key for api_id, app_key in rows}

    async def for_workspace(self, workspace_id: int, wanted: set[str]) -> dict[str, int]:
        """The workspace's `app_id` map, reloaded when it lacks one of `wanted` (rate-bounded)."""
        known = self._apps.get(workspace_id)
        now = time.monotonic()
        stale = known is None or (
            not wanted.issubset(known)
            and now - self._loaded_at.get(workspace_id, 0.0) >= RELOAD_INTERVAL_SECONDS
        )
        if stale:
            known = await run_in_threadpool(self._load, workspace_id)
            self._apps[workspace_id] = known
            self._loaded_at[workspace_id] = now
        assert known is not None
        return known
