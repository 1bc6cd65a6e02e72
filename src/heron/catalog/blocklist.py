"""Dropping blocklisted events, attributes and products from `/users/track` before storage.

Each process keeps, per workspace, the names ingest must drop (Blocklisted, Trashed, being
purged) and the purged names it must bring back to life when they are tracked again. The lists
are re-read at most every `REFRESH_SECONDS` (a stale list is served while one refresh runs in
the background), and dropped at once in this process when the management API changes them, so
the next request waits for a fresh read. The hot path is a dict lookup per request and, only
when a workspace has any such name, a set lookup per object.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from heron.catalog import service
from heron.catalog.kinds import ATTRIBUTES, EVENTS, PRODUCTS
from heron.ingest.batch import TrackBatch
from heron.ingest.custom_attributes import quoted
from heron.ingest.records import AttributeOp, ObjectError

REFRESH_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class DropLists:
    """One workspace's names to drop at ingest, and purged names to revive when tracked."""

    events: frozenset[str] = frozenset()
    attributes: frozenset[str] = frozenset()
    products: frozenset[str] = frozenset()
    purged_events: frozenset[str] = frozenset()
    purged_attributes: frozenset[str] = frozenset()
    quiet: bool = field(init=False)

    def __post_init__(self) -> None:
        quiet = not (
            self.events
            or self.attributes
            or self.products
            or self.purged_events
            or self.purged_attributes
        )
        object.__setattr__(self, "quiet", quiet)


def load(engine: Engine, workspace_id: int) -> DropLists:
    """Read one workspace's lists from the database."""
    with engine.connect() as conn:
        found = service.drop_lists(conn, workspace_id)
    return DropLists(
        events=frozenset(found[EVENTS.key][0]),
        attributes=frozenset(found[ATTRIBUTES.key][0]),
        products=frozenset(found[PRODUCTS.key][0]),
        purged_events=frozenset(found[EVENTS.key][1]),
        purged_attributes=frozenset(found[ATTRIBUTES.key][1]),
    )


class DropListCache:
    """Per-workspace `DropLists`, refreshed every REFRESH_SECONDS and invalidated on change."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._entries: dict[int, tuple[float, DropLists]] = {}
        self._generation: dict[int, int] = {}
        self._refreshing: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def lists(self, workspace_id: int) -> DropLists:
        """The workspace's lists: cached, refreshed in the background when old, loaded if new."""
        entry = self._entries.get(workspace_id)
        if entry is not None:
            if entry[0] <= time.monotonic() and workspace_id not in self._refreshing:
                self._refreshing.add(workspace_id)
                task = asyncio.create_task(self._refresh(workspace_id))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            return entry[1]
        generation = self._generation.get(workspace_id, 0)
        fresh = await run_in_threadpool(load, self._engine, workspace_id)
        self._store(workspace_id, generation, fresh)
        return fresh

    async def _refresh(self, workspace_id: int) -> None:
        """Re-read one workspace's lists in the background."""
        generation = self._generation.get(workspace_id, 0)
        try:
            fresh = await run_in_threadpool(load, self._engine, workspace_id)
        except Exception:  # the database is briefly away: keep serving the old lists
            fresh = None
        finally:
            self._refreshing.discard(workspace_id)
        if fresh is not None:
            self._store(workspace_id, generation, fresh)

    def _store(self, workspace_id: int, generation: int, fresh: DropLists) -> None:
        """Keep lists read at `generation` unless an invalidation happened since."""
        if self._generation.get(workspace_id, 0) == generation:
            self._entries[workspace_id] = (time.monotonic() + REFRESH_SECONDS, fresh)

    def invalidate(self, workspace_id: int) -> None:
        """Forget a workspace's lists now (after a change made by this process)."""
        self._generation[workspace_id] = self._generation.get(workspace_id, 0) + 1
        self._entries.pop(workspace_id, None)


def drop_list_cache(app: Starlette) -> DropListCache:
    """The application's cache (created on first use)."""
    cache: DropListCache | None = getattr(app.state, "catalog_drop_lists", None)
    if cache is None:
        cache = DropListCache(app.state.engine)
        app.state.catalog_drop_lists = cache
    return cache


def _blocklisted(name: str) -> str:
    """The non-fatal error for a dropped object."""
    return f"{quoted(name)} is blocklisted"


async def drop_blocklisted(request: Request, batch: TrackBatch) -> list[ObjectError]:
    """Remove blocklisted objects (and attribute keys) from a batch; one error per removal."""
    cache = drop_list_cache(request.app)
    lists = await cache.lists(batch.workspace_id)
    if lists.quiet:
        return []
    dropped: list[ObjectError] = []
    revive_events: dict[str, tuple[int, int]] = {}
    revive_attributes: dict[str, str] = {}
    if batch.events and (lists.events or lists.purged_events):
        kept_events = []
        for index, event in batch.events:
            if event.name in lists.events:
                dropped.append(ObjectError(_blocklisted(event.name), "events", index))
                continue
            if event.name in lists.purged_events:
                span = revive_events.get(event.name, (event.time_ms, event.time_ms))
                revive_events[event.name] = (
                    min(span[0], event.time_ms),
                    max(span[1], event.time_ms),
                )
            kept_events.append((index, event))
        batch.events = kept_events
    if batch.purchases and lists.products:
        kept_purchases = []
        for index, purchase in batch.purchases:
            if purchase.product_id in lists.products:
                dropped.append(ObjectError(_blocklisted(purchase.product_id), "purchases", index))
            else:
                kept_purchases.append((index, purchase))
        batch.purchases = kept_purchases
    if batch.attributes and (lists.attributes or lists.purged_attributes):
        for index, record in batch.attributes:
            kept_ops: list[AttributeOp] = []
            reported: set[str] = set()
            for op in record.custom:
                if op.name in lists.attributes:
                    if op.name not in reported:
                        reported.add(op.name)
                        dropped.append(ObjectError(_blocklisted(op.name), "attributes", index))
                    continue
                if op.name in lists.purged_attributes and op.kind != "unset":
                    data_type = op.data_type or ("Number" if op.kind == "inc" else "Array")
                    revive_attributes.setdefault(op.name, data_type)
                kept_ops.append(op)
            if len(kept_ops) != len(record.custom):
                record.custom = kept_ops
    if revive_events or revive_attributes:
        await run_in_threadpool(
            service.revive,
            request.app.state.engine,
            batch.workspace_id,
            revive_events,
            revive_attributes,
            batch.now_ms,
        )
        cache.invalidate(batch.workspace_id)
    return dropped
