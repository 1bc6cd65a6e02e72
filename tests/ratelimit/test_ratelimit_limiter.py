"""The bucket table and the in-memory limiter: Braze's numbers, sharing, isolation, cost."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from sqlalchemy.engine import Engine

from conftest import make_workspace
from heron.permissions import ALL_PERMISSIONS
from heron.ratelimit import BUCKETS, Decision, RateLimiter, bucket_for
from heron.ratelimit.buckets import PERMISSION_BUCKETS
from heron.ratelimit.limiter import LoopMemoryStorage
from heron.ratelimit.overrides import OverrideError, set_override

T = TypeVar("T")

# Braze's numbers (spec §3): bucket -> (limit, period in seconds, permissions that share it).
EXPECTED: dict[str, tuple[int, int, set[str]]] = {
    "users_track": (3_000, 3, {"users.track"}),
    "custom_data": (
        1_000,
        3_600,
        {"custom_attributes.get", "events.get", "events.list", "purchases.product_list"},
    ),
    "users_export_ids": (250, 60, {"users.export.ids"}),
    "users_identity": (
        20_000,
        60,
        {"users.delete", "users.alias.new", "users.alias.update", "users.identify", "users.merge"},
    ),
    "users_external_ids_rename": (1_000, 60, {"users.external_ids.rename"}),
    "users_external_ids_remove": (1_000, 60, {"users.external_ids.remove"}),
    "campaigns_data_series": (50_000, 60, {"campaigns.data_series"}),
    "default": (
        250_000,
        3_600,
        {
            "users.export.segment",
            "users.export.global_control_group",
            "events.data_series",
            "campaigns.list",
            "campaigns.details",
            "segments.list",
            "segments.details",
            "segments.data_series",
            "purchases.quantity_series",
            "purchases.revenue_series",
            "kpi.dau.data_series",
            "kpi.mau.data_series",
            "kpi.new_users.data_series",
            "kpi.uninstalls.data_series",
            "sessions.data_series",
        },
    ),
    "heron_management": (10_000, 60, {p for p in ALL_PERMISSIONS if p.startswith("heron.")}),
}


def run(make: Callable[[RateLimiter], Awaitable[T]], limiter: RateLimiter) -> T:
    """Start the limiter, run one coroutine with it on a fresh event loop, stop it."""

    async def main() -> T:
        await limiter.start()
        try:
            return await make(limiter)
        finally:
            await limiter.stop()

    return asyncio.run(main())


async def hit(limiter: RateLimiter, workspace_id: int, bucket: str) -> Decision:
    """Count one request, which must be counted."""
    decision = await limiter.hit(workspace_id, bucket)
    assert decision is not None
    return decision


# -- the table ------------------------------------------------------------------------------


def test_bucket_table_has_brazes_numbers() -> None:
    assert {name: (b.limit, b.period_seconds) for name, b in BUCKETS.items()} == {
        name: (limit, period) for name, (limit, period, _) in EXPECTED.items()
    }


def test_every_permission_maps_to_its_bucket() -> None:
    expected = {p: bucket for bucket, (_, _, perms) in EXPECTED.items() for p in perms}
    assert set(PERMISSION_BUCKETS) == set(ALL_PERMISSIONS)
    assert {p: expected[p] for p in ALL_PERMISSIONS} == PERMISSION_BUCKETS
    assert bucket_for("canvas.list") == "default"  # a Braze permission heron does not serve
    assert bucket_for("heron.something.new") == "heron_management"


# -- counting -------------------------------------------------------------------------------


@pytest.mark.parametrize("bucket", list(EXPECTED))
def test_each_bucket_allows_exactly_its_limit_per_window(engine: Engine, bucket: str) -> None:
    limit, period, permissions = EXPECTED[bucket]
    permission = sorted(permissions)[0]

    async def exhaust(limiter: RateLimiter) -> None:
        started = time.time()
        for n in range(1, limit + 1):
            decision = await hit(limiter, 1, bucket_for(permission))
            assert decision.allowed, n
        assert decision.remaining == 0 and decision.limit == limit
        assert started + period - 1 <= decision.reset <= time.time() + period + 1
        refused = await limiter.hit(1, bucket_for(permission))
        assert refused is not None and not refused.allowed
        assert (refused.remaining, refused.reset) == (0, decision.reset)
        assert 1 <= refused.retry_after <= period
        assert (b"retry-after", str(refused.retry_after).encode()) in refused.headers

    run(exhaust, RateLimiter(engine))


@pytest.mark.parametrize("bucket", [b for b, (_, _, perms) in EXPECTED.items() if len(perms) > 1])
def test_endpoints_of_a_shared_bucket_share_one_budget(engine: Engine, bucket: str) -> None:
    ws = make_workspace(engine)
    permissions = sorted(EXPECTED[bucket][2])
    set_override(engine, ws.id, bucket, len(permissions) + 1, 60)

    async def share(limiter: RateLimiter) -> list[bool]:
        seen = []
        for permission in [*permissions, permissions[0], *permissions]:
            decision = await limiter.hit(ws.id, bucket_for(permission))
            assert decision is not None
            seen.append(decision.allowed)
        other = await limiter.hit(ws.id, "users_track")  # another bucket is untouched
        assert other is not None and other.allowed and other.remaining == 2_999
        return seen

    n = len(permissions)
    assert run(share, RateLimiter(engine)) == [True] * (n + 1) + [False] * n


def test_separate_buckets_do_not_share(engine: Engine) -> None:
    ws = make_workspace(engine)
    set_override(engine, ws.id, "users_external_ids_rename", 1, 60)

    async def separate(limiter: RateLimiter) -> None:
        assert (await hit(limiter, ws.id, "users_external_ids_rename")).allowed
        assert not (await hit(limiter, ws.id, "users_external_ids_rename")).allowed
        remove = await limiter.hit(ws.id, bucket_for("users.external_ids.remove"))
        assert remove is not None and remove.allowed and remove.remaining == 999

    run(separate, RateLimiter(engine))


def test_workspaces_have_separate_budgets(engine: Engine) -> None:
    a = make_workspace(engine, "a")
    b = make_workspace(engine, "b")
    set_override(engine, a.id, "users_track", 2, 60)

    async def isolated(limiter: RateLimiter) -> None:
        for _ in range(2):
            assert (await hit(limiter, a.id, "users_track")).allowed
        assert not (await hit(limiter, a.id, "users_track")).allowed
        other = await limiter.hit(b.id, "users_track")
        assert (
            other is not None and other.allowed and (other.limit, other.remaining) == (3000, 2999)
        )

    run(isolated, RateLimiter(engine))


def test_window_resets_after_its_period(engine: Engine) -> None:
    ws = make_workspace(engine)
    set_override(engine, ws.id, "users_track", 3, 1)

    async def windows(limiter: RateLimiter) -> None:
        first = [await hit(limiter, ws.id, "users_track") for _ in range(4)]
        assert [d.allowed for d in first] == [True, True, True, False]
        reset = first[-1].reset
        await asyncio.sleep(max(0.0, reset - time.time()) + 0.05)
        again = await limiter.hit(ws.id, "users_track")
        assert again is not None and again.allowed and again.remaining == 2
        assert again.reset >= reset

    run(windows, RateLimiter(engine))


def test_override_changes_are_picked_up_on_refresh(engine: Engine) -> None:
    ws = make_workspace(engine)

    async def refreshed(limiter: RateLimiter) -> None:
        assert (await hit(limiter, ws.id, "custom_data")).limit == 1_000
        set_override(engine, ws.id, "custom_data", 7, 30)
        await limiter.refresh()
        decision = await limiter.hit(ws.id, "custom_data")
        assert decision is not None and (decision.limit, decision.remaining) == (7, 6)

    run(refreshed, RateLimiter(engine))


def test_overrides_are_validated(engine: Engine) -> None:
    ws = make_workspace(engine)
    with pytest.raises(OverrideError, match="unknown bucket"):
        set_override(engine, ws.id, "nope", 1, 1)
    with pytest.raises(OverrideError, match="limit"):
        set_override(engine, ws.id, "users_track", 0, 1)
    with pytest.raises(OverrideError, match="period"):
        set_override(engine, ws.id, "users_track", 1, 0)


def test_disabled_or_stopped_limiter_counts_nothing(engine: Engine) -> None:
    async def nothing(limiter: RateLimiter) -> None:
        assert not limiter.active
        assert await limiter.hit(1, "users_track") is None

    run(nothing, RateLimiter(engine, enabled=False))
    stopped = RateLimiter(engine)
    assert asyncio.run(stopped.hit(1, "users_track")) is None


def test_in_memory_check_costs_a_few_microseconds(engine: Engine) -> None:
    n = 50_000

    async def timed(limiter: RateLimiter) -> float:
        for _ in range(1_000):  # warm up
            await limiter.hit(1, "default")
        started = time.perf_counter()
        for _ in range(n):
            await limiter.hit(1, "default")
        return (time.perf_counter() - started) / n

    per_hit = run(timed, RateLimiter(engine))
    print(f"in-memory limiter: {per_hit * 1e6:.2f} µs per request")
    assert per_hit < 50e-6  # a loose guard (measured ~5 µs); catches an accidental I/O or lock


def test_in_memory_storage_starts_no_thread_and_sweeps_expired_windows() -> None:
    storage = LoopMemoryStorage()
    for i in range(50):
        assert storage.incr(f"k{i}", 1) == 1
    assert storage.incr("k0", 1) == 2
    timers = [t for t in threading.enumerate() if isinstance(t, threading.Timer)]
    assert not [t for t in timers if getattr(t.function, "__self__", None) is storage]
    assert not storage.timer.ident  # the parked timer was never started
    assert len(storage.expirations) == 50
    time.sleep(1.05)
    storage.sweep()
    assert storage.expirations == {} and not storage.storage
    assert storage.incr("k0", 1) == 1  # a new window
