"""The rate limiter: fixed windows per (workspace, bucket) in memory or Redis, via `limits`.

Counting is `limits`' fixed-window strategy done with one storage call: `incr(key, period)`
starts a window of `period` seconds at the first request and returns the count so far; the
request is allowed while the count is at most the limit (exactly `FixedWindowRateLimiter.hit`).
The window's end comes from `get_expiry` (in memory: a dict lookup; in Redis it is asked once
per window and process, then remembered), so a request costs one Redis round trip.

The storage key names the workspace, the bucket, the limit and the period, so an override
changed with the CLI starts a fresh window with the new numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio
from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
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


@dataclass(frozen=True, slots=True)
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
        self._storage: Storage | None = None
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
        return self._storage is not None

    async def start(self) -> None:
        """Load the overrides, open the storage and start re-reading overrides periodically."""
        if not self.enabled or self._storage is not None:
            return
        await self.refresh()
        if self.redis_url is None:
            self._storage = MemoryStorage()
        else:
            self._pool = redis.asyncio.ConnectionPool.from_url(
                self.redis_url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
            options: dict[str, Any] = {"connection_pool": self._pool}
            storage = RedisStorage(
                _storage_uri(self.redis_url),
                implementation="redispy",
                key_prefix=self.redis_prefix,
                **options,
            )
            try:
                await storage.check()
            except Exception as exc:
                self._warn(f"Redis at {self._redis_location()} is unreachable ({exc!r})")
            self._storage = storage
        self._refresher = asyncio.create_task(self._refresh_forever())

    async def stop(self) -> None:
        """Stop counting, the refresher and the Redis connections."""
        self._storage = None
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
        """Re-read the overrides every `REFRESH_SECONDS` (running servers pick changes up)."""
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            await self.refresh()

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
        storage = self._storage
        if storage is None:
            return None
        rule = self.rule(workspace_id, bucket)
        now = time.time()
        if self._pool is None:
            count = await storage.incr(rule.key, rule.period_seconds)
            return _decide(rule, count, await storage.get_expiry(rule.key), now)
        return await self._hit_redis(storage, rule, now)

    async def _hit_redis(self, storage: Storage, rule: Rule, now: float) -> Decision | None:
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
