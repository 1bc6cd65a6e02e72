"""API-key authentication: `Authorization: Bearer <key>` -> workspace, permissions, allowlist.

Keys are looked up by hash and cached for a few seconds, so the hot path never waits for the
database and a revoked key stops working within `KEY_CACHE_SECONDS`. When an entry expires, one
lookup refreshes it and the requests arriving meanwhile wait for that one (not one query each).
`last_seen` is collected in memory and written at most every `LAST_SEEN_FLUSH_SECONDS`
(operators see it to the minute).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import threading
import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from heron.admin.keys import IPNetwork, hash_key
from heron.http.errors import FORBIDDEN_MESSAGE, UNAUTHORIZED_MESSAGE, BrazeError
from heron.ratelimit import enforce as enforce_rate_limit
from heron.store.schema import api_keys, workspaces

KEY_CACHE_SECONDS = 2.0
LAST_SEEN_FLUSH_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's workspace and what the key may do."""

    key_id: int
    workspace_id: int
    workspace_time_zone: str
    permissions: frozenset[str]
    allowed_networks: tuple[IPNetwork, ...]


class KeyRing:
    """Resolves bearer keys to principals, with a short-lived cache and batched `last_seen`."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        # key hash -> the lookup in flight for it (one per key and event loop)
        self._loading: dict[str, asyncio.Future[Principal | None]] = {}
        self._generation = 0  # moved by forget_principals: older lookups are not cached
        self._seen: dict[int, int] = {}
        self._seen_lock = threading.Lock()
        self._last_flush = time.monotonic()

    def _load(self, key_hash: str) -> Principal | None:
        """Fetch one active key and its workspace from the database."""
        query = (
            select(
                api_keys.c.id,
                api_keys.c.workspace_id,
                api_keys.c.permissions,
                api_keys.c.allowed_ips,
                workspaces.c.time_zone,
            )
            .join(workspaces, workspaces.c.id == api_keys.c.workspace_id)
            .where(api_keys.c.key_hash == key_hash, api_keys.c.revoked_at_ms.is_(None))
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return Principal(
            key_id=row.id,
            workspace_id=row.workspace_id,
            workspace_time_zone=row.time_zone,
            permissions=frozenset(json.loads(row.permissions)),
            allowed_networks=tuple(ipaddress.ip_network(n) for n in json.loads(row.allowed_ips)),
        )

    async def principal(self, secret: str) -> Principal | None:
        """The principal for a key, or None for an unknown or revoked key."""
        key_hash = hash_key(secret)
        now = time.monotonic()
        cached = self._cache.get(key_hash)
        if cached is not None and cached[0] > now:
            return cached[1]
        loop = asyncio.get_running_loop()
        pending = self._loading.get(key_hash)
        if pending is None or pending.get_loop() is not loop:
            pending = loop.create_task(self._refresh(key_hash, now))
            self._loading[key_hash] = pending
        # shielded: a caller that goes away does not cancel the lookup others wait for
        return await asyncio.shield(pending)

    async def _refresh(self, key_hash: str, now: float) -> Principal | None:
        """Look one key up (in a worker thread) and cache the answer, found or not.

        A lookup that began before `forget_principals` answers its waiters but is not cached:
        it may have read the setting that was just changed.
        """
        generation = self._generation
        try:
            found = await run_in_threadpool(self._load, key_hash)
        finally:
            if self._loading.get(key_hash) is asyncio.current_task():
                del self._loading[key_hash]
        if generation == self._generation:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key_hash] = (now + KEY_CACHE_SECONDS, found)
        return found

    def forget_principals(self) -> None:
        """Drop cached principals, so a changed workspace setting (time zone) applies at once.

        Requests arriving afterwards start a new lookup rather than join one already running.
        """
        self._cache = {}
        self._loading = {}
        self._generation += 1

    def mark_seen(self, key_id: int) -> None:
        """Remember that a key was used now (written to the database in batches)."""
        self._seen[key_id] = int(time.time() * 1000)

    def flush_due(self) -> bool:
        """True when collected `last_seen` times should be written."""
        return bool(self._seen) and time.monotonic() - self._last_flush >= LAST_SEEN_FLUSH_SECONDS

    def flush_last_seen(self) -> None:
        """Write collected `last_seen` times (called from a worker thread)."""
        with self._seen_lock:
            seen, self._seen = self._seen, {}
            self._last_flush = time.monotonic()
        if not seen:
            return
        with self._engine.begin() as conn:
            for key_id, seen_ms in seen.items():
                conn.execute(
                    update(api_keys).where(api_keys.c.id == key_id).values(last_seen_ms=seen_ms)
                )


def bearer_secret(request: Request) -> str | None:
    """The key from `Authorization: Bearer <key>` (scheme case-insensitive), or None."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    value = value.strip()
    return value or None


def _client_allowed(principal: Principal, scope: MutableMapping[str, Any]) -> bool:
    """Check the caller's address against the key's allowlist (empty list = any address)."""
    if not principal.allowed_networks:
        return True
    client = scope.get("client")
    if not client:
        return False
    try:
        address = ipaddress.ip_address(client[0])
    except ValueError:
        return False
    return any(address in network for network in principal.allowed_networks)


async def authenticate(request: Request, permission: str) -> Principal:
    """Authenticate and authorize one permission (Braze's 401/403), then count it (429)."""
    secret = bearer_secret(request)
    if secret is None:
        raise BrazeError(401, UNAUTHORIZED_MESSAGE)
    keyring: KeyRing = request.app.state.keyring
    principal = await keyring.principal(secret)
    if principal is None or not _client_allowed(principal, request.scope):
        raise BrazeError(401, UNAUTHORIZED_MESSAGE)
    if permission not in principal.permissions:
        raise BrazeError(403, FORBIDDEN_MESSAGE)
    keyring.mark_seen(principal.key_id)
    await enforce_rate_limit(request, principal.workspace_id, permission)
    return principal
