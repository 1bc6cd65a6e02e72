"""Helpers for segment tests: an app without the background evaluator, API shortcuts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from conftest import auth
from heron.app import create_app
from heron.config import Settings


@pytest.fixture
def seg_client(engine: Engine, database_url: str) -> Iterator[TestClient]:
    """The real app with the background evaluator off: tests drive it with `catch_up`."""
    app = create_app(Settings(database_url=database_url, segment_evaluator=False))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def post(client: TestClient, key: str, path: str, body: Any) -> Any:
    """POST a JSON body with a key."""
    return client.post(path, content=json.dumps(body), headers=auth(key))


def track(client: TestClient, key: str, body: dict[str, Any]) -> None:
    """POST /users/track in chunks of 75 objects per array, expecting every object processed."""
    arrays = {name: body.get(name, []) for name in ("attributes", "events", "purchases")}
    longest = max((len(v) for v in arrays.values()), default=0)
    for start in range(0, longest, 75):
        part = {k: v[start : start + 75] for k, v in arrays.items() if v[start : start + 75]}
        response = post(client, key, "/users/track", part)
        assert response.status_code == 201, response.text
        assert "errors" not in response.json(), response.text


def create_segment(client: TestClient, key: str, body: dict[str, Any], tracked: bool) -> str:
    """Create a segment through the management API (tracking on if asked); its id."""
    response = post(client, key, "/heron/v1/segments", body)
    assert response.status_code == 201, response.text
    segment_id = str(response.json()["segment"]["segment_id"])
    if tracked:
        response = post(
            client, key, "/heron/v1/segments/tracking", {"segment_id": segment_id, "enabled": True}
        )
        assert response.status_code == 200, response.text
    return segment_id
