"""Helpers shared by the catalog tests: seeding names, walking `Link` headers, tracking."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from conftest import auth
from heron.catalog.kinds import DAY_MS, KINDS
from heron.store.schema import event_rollups_hourly, event_rollups_recent

NOW_ISO = "2024-05-01T12:00:00Z"
_LINK = re.compile(r'<([^>]*)>; rel="(prev|next)"')


def seed(engine: Engine, workspace_id: int, kind: str, names: list[str], **values: Any) -> None:
    """Insert catalog entries directly (fast), Active unless `values` say otherwise."""
    table = KINDS[kind].table
    now = int(time.time() * 1000)
    extra: dict[str, Any] = {"data_type": "String"} if kind == "custom_attributes" else {}
    rows = [
        {"workspace_id": workspace_id, "name": n, "created_at_ms": now, **extra, **values}
        for n in names
    ]
    if rows:
        with engine.begin() as conn:
            conn.execute(insert(table), rows)


def set_columns(engine: Engine, kind: str, name: str, **values: Any) -> None:
    """Change columns of one entry (every workspace) directly, e.g. to move times back."""
    table = KINDS[kind].table
    with engine.begin() as conn:
        conn.execute(update(table).where(table.c.name == name).values(**values))


def days_ago(days: float) -> int:
    """Epoch ms `days` days before now."""
    return int(time.time() * 1000) - int(days * DAY_MS)


def links(response: Any) -> dict[str, str]:
    """rel -> URI from a response's `Link` header (empty when there is none)."""
    header = response.headers.get("link")
    if header is None:
        return {}
    found = dict((rel, uri) for uri, rel in _LINK.findall(header))
    assert ",".join(f'<{found[r]}>; rel="{r}"' for r in ("prev", "next") if r in found) == header
    return found


def walk(client: TestClient, key: str, path: str, key_name: str) -> list[list[str]]:
    """Follow `next` from the first page; the names of each page."""
    pages = []
    url: str | None = path
    while url is not None:
        response = client.get(url, headers=auth(key))
        assert response.status_code == 200, response.text
        pages.append([item["name"] for item in response.json()[key_name]])
        url = links(response).get("next")
        assert len(pages) < 1000
    return pages


def track(client: TestClient, key: str, body: Any) -> Any:
    """POST a body to /users/track."""
    return client.post("/users/track", content=json.dumps(body), headers=auth(key))


def event(name: str, external_id: str = "user1", **extra: Any) -> dict[str, Any]:
    """A valid event object."""
    return {"external_id": external_id, "name": name, "time": NOW_ISO, **extra}


def purchase(product_id: str, external_id: str = "user1") -> dict[str, Any]:
    """A valid purchase object."""
    return {
        "external_id": external_id,
        "product_id": product_id,
        "currency": "USD",
        "price": 2.5,
        "time": NOW_ISO,
    }


def rollup_count(engine: Engine, event_id: int) -> int:
    """Occurrences of an event in the rollups (recent and hourly tables)."""
    total = 0
    with engine.connect() as conn:
        for table in (event_rollups_recent, event_rollups_hourly):
            total += int(
                conn.execute(
                    select(func.coalesce(func.sum(table.c.count), 0)).where(
                        table.c.event_id == event_id
                    )
                ).scalar_one()
            )
    return total


def manage(client: TestClient, key: str, path: str, body: Any) -> Any:
    """POST to heron's management API."""
    return client.post(f"/heron/v1/{path}", content=json.dumps(body), headers=auth(key))
