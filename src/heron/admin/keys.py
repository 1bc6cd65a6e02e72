"""REST API keys: random secrets stored only as SHA-256 hashes, scoped to one workspace."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from heron.admin.workspaces import AdminError
from heron.store.schema import api_keys

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def hash_key(secret: str) -> str:
    """The stored form of a key: hex SHA-256 (keys are random, so no salt or KDF is needed)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def parse_networks(specs: Sequence[str]) -> list[str]:
    """Validate IP addresses/CIDR blocks for an allowlist; return them normalized."""
    networks = []
    for spec in specs:
        try:
            networks.append(str(ipaddress.ip_network(spec.strip(), strict=False)))
        except ValueError as exc:
            raise AdminError(f"not an IP address or CIDR block: {spec!r}") from exc
    return networks


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key's metadata as shown to operators (never the secret)."""

    id: int
    workspace_id: int
    identifier: str
    name: str
    permissions: list[str]
    allowed_ips: list[str]
    created_at_ms: int
    last_seen_ms: int | None
    revoked: bool


def create_key(
    engine: Engine,
    workspace_id: int,
    name: str,
    permissions: Sequence[str],
    allowed_ips: Sequence[str] = (),
) -> tuple[str, ApiKey]:
    """Create a key; returns the secret (shown once) and its metadata."""
    name = name.strip()
    if not name:
        raise AdminError("key name must not be empty")
    networks = parse_networks(allowed_ips)
    secret = str(uuid.uuid4())
    identifier = str(uuid.uuid4())
    now = int(time.time() * 1000)
    with engine.begin() as conn:
        result = conn.execute(
            insert(api_keys).values(
                workspace_id=workspace_id,
                identifier=identifier,
                name=name,
                key_hash=hash_key(secret),
                permissions=json.dumps(list(permissions)),
                allowed_ips=json.dumps(networks),
                created_at_ms=now,
            )
        )
        new_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    key = ApiKey(
        new_id, workspace_id, identifier, name, list(permissions), networks, now, None, False
    )
    return secret, key


def list_keys(engine: Engine, workspace_id: int | None = None) -> list[ApiKey]:
    """Keys (of one workspace, or all), oldest first, revoked ones included."""
    query = select(api_keys).order_by(api_keys.c.id)
    if workspace_id is not None:
        query = query.where(api_keys.c.workspace_id == workspace_id)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        ApiKey(
            r.id,
            r.workspace_id,
            r.identifier,
            r.name,
            json.loads(r.permissions),
            json.loads(r.allowed_ips),
            r.created_at_ms,
            r.last_seen_ms,
            r.revoked_at_ms is not None,
        )
        for r in rows
    ]


def revoke_key(engine: Engine, key_ref: str) -> None:
    """Revoke a key by id or identifier; servers stop accepting it within seconds."""
    column = api_keys.c.id if key_ref.isdigit() else api_keys.c.identifier
    value: int | str = int(key_ref) if key_ref.isdigit() else key_ref
    with engine.begin() as conn:
        result = conn.execute(
            update(api_keys)
            .where(column == value, api_keys.c.revoked_at_ms.is_(None))
            .values(revoked_at_ms=int(time.time() * 1000))
        )
    if result.rowcount == 0:
        raise AdminError(f"no active key {key_ref!r}")
