"""The rate limiter: fixed windows per (workspace, bucket) in memory or Redis, via `limits`.

Counting is `limits`' fixed-window strategy done with one storage call: `incr(key, period)`
starts a window of `period` seconds at the first request and returns the count so far; the
request is allowed while the count is at most the limit (exactly `FixedWindowRateLimiter.hit`).
The window's end comes from `get_expiry` (in memory: a dict lookup; in Redis it is asked once
per window and process, then remembered), so a request costs one Redis round trip.

In process, the counters are `limits.storage.MemoryStorage` called directly on the event loop:
it never blocks (a dict and an uncontended lock). Its expiry timer thread is parked (see
`LoopMemoryStorage`): expired windows are dropped when next read and by a sweep every
`REFRESH_SECONDS`. (The async `limits.aio` memory storage schedules an asyncio task per request
for the same expiry: 2-3x the cost.)
Redis goes through the async `limits.aio.storage.RedisStorage` (redis-py's asyncio client), so a
round trip never blocks the loop.

The storage key names the workspace, the bucket, the limit and the period, so an override
changed with the CLI starts a fresh window with the new numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio
from limits import RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.storage import MemoryStorage
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from heron.http.errors import RATE_LIMITED_MESSAGE, BrazeError
from heron.ratelimit.buckets import BUCKETS, DEFAULT_BUCKET, bucket_for
from heron.ratelimit.overrides import Override, load_overrides

__all__ = [
    "REFRESH_SECONDS",
    "SCOPE_KEY",
    "Decision",
    "RateLimitHeaders",
    "RateLimiter",
    "Rule",
    "enforce",
]

log = logging.getLogger("heron.ratelimit")

SCOPE_KEY = "heron.rate_limit_headers"  # ASGI scope entry: the headers for this response
REFRESH_SECONDS = 2.0  # how often a server re-reads the overrides table
WARN_INTERVAL_SECONDS = 60.0  # at most one "Redis unreachable" warning per interval
REDIS_TIMEOUT_SECONDS = 0.5  # connect and command timeout: past it, fail open
REDIS_RETRY_SECONDS = 1.0  # after a Redis error, fail open without trying for this long

Headers = list[tuple[bytes, bytes]]

_LIMIT = b"x-ratelimit-limit"
_REMAINING = b"x-ratelimit-remaining"
_RESET = b"x-ratelimit-reset"
_RETRY_AFTER = b"retry-after"


@dataclass(frozen=True, slots=True)
class Rule:
    """The numbers one workspace gets for one bucket, and the storage key counting them."""

    bucket: str
    limit: int
    period_seconds: int
    key: str
    limit_header: bytes


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ is slower (hot path)
class Decision:
    """The outcome of counting one request: allowed or not, and the headers to send."""

    allowed: bool
    limit: int
    remaining: int
    reset: int  # UTC epoch seconds at which the window ends
    retry_after: int  # seconds to wait when refused, else 0
    headers: Headers


def _decide(rule: Rule, count: int, reset_at: float, now: float) -> Decision:
    """Turn a window's count and end into a decision with its response headers."""
    reset = math.ceil(reset_at)
    remaining = rule.limit - count
    headers = [
        (_LIMIT, rule.limit_header),
        (_REMAINING, str(max(remaining, 0)).encode()),
        (_RESET, str(reset).encode()),
    ]
    if remaining >= 0:
        return Decision(True, rule.limit, remaining, reset, 0, headers)
    retry_after = max(1, math.ceil(reset_at - now))
    headers.append((_RETRY_AFTER, str(retry_after).encode()))
    return Decision(False, rule.limit, 0, reset, retry_after, headers)


class _ParkedTimer(threading.Timer):
    """A timer never started that reports itself alive, so `MemoryStorage` starts no other."""

    def __init__(self) -> None:
        super().__init__(0, lambda: None)

    def is_alive(self) -> bool:
        """Always: `MemoryStorage` starts a new expiry timer only when its last one is dead."""
        return True


class LoopMemoryStorage(MemoryStorage):
    """`limits`' in-memory storage, used from the event loop only, without its expiry thread.

    Stock `MemoryStorage` starts a thread per 10 ms of traffic to drop expired windows; the
    thread start and the GIL hand-offs it causes cost 2-13 µs per request (measured), more than
    the count itself. Expired windows are dropped anyway when next read (`get`, which `incr`
    calls first); `sweep()` drops the rest, so memory stays bounded.
    """

    def __init__(self) -> None:
        super().__init__()
        self.timer.cancel()  # the one the constructor started: it ends at once
        self.timer.join()
        self.timer = _ParkedTimer()

    def sweep(self) -> None:
        """Drop every expired window (`get` removes a window whose time is up)."""
        for key in list(self.expirations):
            self.get(key)


def _storage_uri(url: str) -> str:
    """The `limits` async storage URI for a redis://, rediss:// or unix:// URL."""
    if url.startswith("unix://"):
        return "async+redis+unix://" + url.removeprefix("unix://")
    return "async+" + url


class RateLimiter:
    """Counts requests per workspace and bucket; inactive (counts nothing) until `start()`."""

    def __init__(
        self,
        engine: Engine,
        *,
        enabled: bool = True,
        redis_url: str | None = None,
        redis_prefix: str = "heron:ratelimit",
    ) -> None:
        self.enabled = enabled
        self.redis_url = redis_url
        self.redis_prefix = redis_prefix
        self._engine = engine
        self._memory: LoopMemoryStorage | None = None
        self._redis: RedisStorage | None = None
        self._pool: redis.asyncio.ConnectionPool | None = None
        self._overrides: dict[tuple[int, str], Override] = {}
        self._rules: dict[tuple[int, str], Rule] = {}
        self._resets: dict[str, float] = {}  # Redis: window ends seen by this process
        self._refresher: asyncio.Task[None] | None = None
        self._redis_retry_at = 0.0
        self._last_warning = -math.inf

    @property
    def active(self) -> bool:
        """True while requests are being counted."""
        return self._memory is not None or self._redis is not None

    async def start(self) -> None:
        """Load the overrides, open the storage and start re-reading overrides periodically."""
        if not self.enabled or self.active:
            return
        await self.refresh()
        if self.redis_url is None:
            self._memory = LoopMemoryStorage()
        else:
            self._pool = redis.asyncio.ConnectionPool.from_url(
                self.redis_url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                # one immediate retry (a pooled connection may have died with a Redis restart)
                retry=Retry(NoBackoff(), 1),
            )
            options: dict[str, Any] = {"connection_pool": self._pool}
            storage = RedisStorage(
                _storage_uri(self.redis_url),
                implementation="redispy",
                key_prefix=self.redis_prefix,
                **options,
            )
            try:
                reachable = await storage.check()
            except Exception:
                reachable = False
            if not reachable:
                self._warn(
                    f"Redis at {self._redis_location()} is unreachable; allowing requests"
                    " without rate limits until it answers"
                )
            self._redis = storage
        self._refresher = asyncio.create_task(self._refresh_forever())

    async def stop(self) -> None:
        """Stop counting, the refresher and the Redis connections."""
        self._memory = None
        self._redis = None
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None
        if self._pool is not None:
            with contextlib.suppress(Exception):
                await self._pool.aclose()
            self._pool = None

    async def refresh(self) -> None:
        """Re-read the overrides table; rules change only when it did."""
        try:
            overrides = await run_in_threadpool(load_overrides, self._engine)
        except Exception:
            log.exception("could not read rate-limit overrides; keeping the previous ones")
            return
        if overrides != self._overrides:
            self._overrides = overrides
            self._rules = {}

    async def _refresh_forever(self) -> None:
        """Every `REFRESH_SECONDS`: re-read the overrides, drop expired in-memory windows."""
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            await self.refresh()
            if self._memory is not None:
                self._memory.sweep()

    def rule(self, workspace_id: int, bucket: str) -> Rule:
        """The rule for a workspace's bucket: its override, else Braze's default numbers."""
        found = self._rules.get((workspace_id, bucket))
        if found is not None:
            return found
        default = BUCKETS.get(bucket) or BUCKETS[DEFAULT_BUCKET]
        override = self._overrides.get((workspace_id, default.name))
        limit = override.limit if override else default.limit
        period = override.period_seconds if override else default.period_seconds
        key = RateLimitItemPerSecond(limit, period).key_for(str(workspace_id), default.name)
        found = Rule(default.name, limit, period, key, str(limit).encode())
        self._rules[(workspace_id, bucket)] = found
        return found

    async def hit(self, workspace_id: int, bucket: str) -> Decision | None:
        """Count one request; None when not counting (off, stopped, or Redis failing open)."""
        memory = self._memory
        if memory is not None:
            rule = self.rule(workspace_id, bucket)
            now = time.time()
            count = memory.incr(rule.key, rule.period_seconds)
            return _decide(rule, count, memory.get_expiry(rule.key), now)
        storage = self._redis
        if storage is None:
            return None
        return await self._hit_redis(storage, self.rule(workspace_id, bucket), time.time())

    async def _hit_redis(self, storage: RedisStorage, rule: Rule, now: float) -> Decision | None:
        """Count in Redis (one round trip, two for a window this process has not seen yet)."""
        if time.monotonic() < self._redis_retry_at:
            return None
        try:
            count = await storage.incr(rule.key, rule.period_seconds)
            if count == 1:  # this request opened the window
                reset_at = now + rule.period_seconds
                self._resets[rule.key] = reset_at
            else:
                reset_at = self._resets.get(rule.key, 0.0)
                if reset_at <= now:
                    reset_at = await storage.get_expiry(rule.key)
                    self._resets[rule.key] = reset_at
        except Exception as exc:
            self._redis_retry_at = time.monotonic() + REDIS_RETRY_SECONDS
            self._warn(
                f"Redis at {self._redis_location()} failed ({exc!r}); allowing requests"
                " without rate limits until it answers again"
            )
            return None
        return _decide(rule, count, reset_at, now)

    def _redis_location(self) -> str:
        """Where Redis is, without credentials (for log lines)."""
        url = self.redis_url or ""
        return url.rsplit("@", 1)[-1] if "@" in url else url

    def _warn(self, message: str) -> None:
        """Log a warning, at most once per `WARN_INTERVAL_SECONDS`."""
        now = time.monotonic()
        if now - self._last_warning >= WARN_INTERVAL_SECONDS:
            self._last_warning = now
            log.warning(message)


async def enforce(request: Request, workspace_id: int, permission: str) -> None:
    """Count an authenticated request in its workspace's bucket; raise Braze's 429 when over."""
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None:
        return
    decision = await limiter.hit(workspace_id, bucket_for(permission))
    if decision is None:
        return
    request.scope[SCOPE_KEY] = decision.headers
    if not decision.allowed:
        raise BrazeError(429, RATE_LIMITED_MESSAGE)


class RateLimitHeaders:
    """ASGI middleware: adds the rate-limit headers `enforce` recorded to the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the recorded headers to the response's start message."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            """Append the headers, if any were recorded, when the response starts."""
            if message["type"] == "http.response.start":
                headers = scope.get(SCOPE_KEY)
                if headers:
                    message["headers"] = [*message.get("headers", ()), *headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)
