"""Redis-backed rate limits: one budget for several processes, and failing open without Redis.

Each test uses its own key prefix in the real Redis (`HERON_TEST_REDIS_URL`, default
`redis://127.0.0.1:6379/0`) and deletes its keys afterwards. An unreachable Redis skips these
tests, except under `CI=true`, where it fails them.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from conftest import Workspace, auth, make_workspace
from heron.app import create_app
from heron.config import Settings
from heron.ratelimit.overrides import set_override
from serverproc import ServerProcess, heron_cli

REDIS_URL = os.environ.get("HERON_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
VALID = json.dumps({"attributes": [{"external_id": "u1", "plan": "gold"}]})


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix no other test uses; every key under it is deleted afterwards."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    prefix = f"heron-test:{uuid.uuid4().hex}"
    try:
        yield prefix
    finally:
        for key in client.scan_iter(match=f"{prefix}:*"):
            client.delete(key)
        client.close()


def redis_keys(prefix: str) -> list[bytes]:
    """The keys under a prefix."""
    with redis.Redis.from_url(REDIS_URL) as client:
        return list(client.scan_iter(match=f"{prefix}:*"))


def test_in_process_app_counts_in_redis(
    engine: Engine, database_url: str, workspace: Workspace, redis_prefix: str
) -> None:
    set_override(engine, workspace.id, "users_track", 3, 60)
    settings = Settings(database_url=database_url, redis_url=REDIS_URL, redis_prefix=redis_prefix)
    with TestClient(create_app(settings)) as client:
        answers = [
            client.post("/users/track", content=VALID, headers=auth(workspace.key))
            for _ in range(4)
        ]
    assert [r.status_code for r in answers] == [201, 201, 201, 429]
    assert [r.headers["x-ratelimit-remaining"] for r in answers] == ["2", "1", "0", "0"]
    assert len({r.headers["x-ratelimit-reset"] for r in answers}) == 1
    assert answers[-1].json() == {"message": "Rate Limited"}
    assert 1 <= int(answers[-1].headers["retry-after"]) <= 60
    (key,) = redis_keys(redis_prefix)
    assert f"/{workspace.id}/users_track/3/60/".encode() in key


def test_unreachable_redis_fails_open_and_warns_once(
    database_url: str, workspace: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(database_url=database_url, redis_url="redis://127.0.0.1:1/0")
    with (
        caplog.at_level(logging.WARNING, logger="heron.ratelimit"),
        TestClient(create_app(settings)) as client,
    ):
        for _ in range(5):
            response = client.post("/users/track", content=VALID, headers=auth(workspace.key))
            assert response.status_code == 201
            assert "x-ratelimit-limit" not in response.headers
        client.app.state.rate_limiter._redis_retry_at = 0.0  # type: ignore[attr-defined]
        assert client.post("/users/track", content=VALID, headers=auth(workspace.key)).is_success
    warnings = [r for r in caplog.records if r.name == "heron.ratelimit"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "127.0.0.1:1" in warnings[0].getMessage()


@pytest.mark.slow
def test_two_server_processes_share_one_budget_through_redis(
    engine: Engine, database_url: str, tmp_path: Path, redis_prefix: str
) -> None:
    ws = make_workspace(engine, "shared")
    heron_cli(
        "workspaces", "rate-limit", "set", "shared", "users_track", "6", "60",
        "--database", database_url,
    )  # fmt: skip
    env = {
        "HERON_RATE_LIMITS": "on",
        "HERON_REDIS_URL": REDIS_URL,
        "HERON_REDIS_PREFIX": redis_prefix,
    }
    with (
        ServerProcess(database_url, tmp_path / "a.log", env=env) as a,
        ServerProcess(database_url, tmp_path / "b.log", env=env) as b,
        httpx.Client(timeout=10) as http,
    ):
        answers = [
            http.post(f"{server.base_url}/users/track", content=VALID, headers=auth(ws.key))
            for server in [a, b] * 5
        ]
    codes = [r.status_code for r in answers]
    assert codes == [201] * 6 + [429] * 4, codes
    assert [int(r.headers["x-ratelimit-remaining"]) for r in answers[:6]] == [5, 4, 3, 2, 1, 0]
    assert {r.headers["x-ratelimit-limit"] for r in answers} == {"6"}
    resets = {int(r.headers["x-ratelimit-reset"]) for r in answers}
    assert max(resets) - min(resets) <= 1, resets  # one window, seen alike by both processes
    assert {r.json()["message"] for r in answers[6:]} == {"Rate Limited"}
    assert len(redis_keys(redis_prefix)) == 1
