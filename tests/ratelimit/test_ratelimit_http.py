"""Rate limits through the real app: headers, 429s, windows, workspaces, CLI overrides, off."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from conftest import Workspace, auth, make_workspace
from heron import openapi
from heron.admin import keys as key_admin
from heron.app import create_app
from heron.cli import main as heron_main
from heron.config import Settings
from heron.http.auth import authenticate
from heron.http.errors import JSONResponse, bad_request
from heron.permissions import ALL_PERMISSIONS
from heron.ratelimit import BUCKETS, RateLimiter, bucket_for
from heron.ratelimit.limiter import REFRESH_SECONDS
from heron.ratelimit.overrides import set_override

RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")
VALID = {"attributes": [{"external_id": "u1", "plan": "gold"}]}


async def probe(request: Request) -> Response:
    """A test endpoint requiring any permission; `?fail=1` answers 400 after authentication."""
    await authenticate(request, request.path_params["permission"])
    if request.query_params.get("fail"):
        raise bad_request("probe failure")
    return JSONResponse({"message": "success"})


def app_for(database_url: str, **settings: Any) -> Starlette:
    """The real app, plus `GET /probe/{permission}` to reach every bucket."""
    app = create_app(Settings(database_url=database_url, **settings))
    app.router.routes.append(Route("/probe/{permission}", probe, methods=["GET"]))
    return app


@pytest.fixture
def limited(engine: Engine, database_url: str) -> Iterator[TestClient]:
    """The app with rate limits on (in-process counters)."""
    with TestClient(app_for(database_url), raise_server_exceptions=False) as test_client:
        yield test_client


def track(client: TestClient, key: str, body: Any = VALID) -> httpx.Response:
    """POST /users/track."""
    return client.post("/users/track", content=json.dumps(body), headers=auth(key))


def apply_overrides(client: TestClient) -> None:
    """Make the running app re-read the overrides now (servers do it every REFRESH_SECONDS)."""
    limiter: RateLimiter = client.app.state.rate_limiter  # type: ignore[attr-defined]
    assert client.portal is not None
    client.portal.call(limiter.refresh)


def numbers(response: httpx.Response) -> tuple[int, int, int]:
    """(limit, remaining, reset) from the rate-limit headers."""
    return (
        int(response.headers["x-ratelimit-limit"]),
        int(response.headers["x-ratelimit-remaining"]),
        int(response.headers["x-ratelimit-reset"]),
    )


# -- headers --------------------------------------------------------------------------------


def test_success_and_every_error_after_authentication_carry_the_headers(
    limited: TestClient, workspace: Workspace
) -> None:
    started = time.time()
    ok = track(limited, workspace.key)
    assert ok.status_code == 201
    limit, remaining, reset = numbers(ok)
    assert (limit, remaining) == (3_000, 2_999)
    assert started + 2 <= reset <= time.time() + 4  # a 3-second window, UTC epoch seconds
    bad = track(limited, workspace.key, {})
    assert bad.status_code == 400 and numbers(bad)[:2] == (3_000, 2_998)
    malformed = limited.post("/users/track", content=b"{", headers=auth(workspace.key))
    assert malformed.status_code == 400 and numbers(malformed)[:2] == (3_000, 2_997)
    huge = limited.post(
        "/users/track", content=b" " * (4 * 1024 * 1024 + 1), headers=auth(workspace.key)
    )
    assert huge.status_code == 413 and numbers(huge)[:2] == (3_000, 2_996)
    failed = limited.get("/probe/users.track?fail=1", headers=auth(workspace.key))
    assert failed.status_code == 400 and numbers(failed)[:2] == (3_000, 2_995)


def test_401_and_403_carry_no_headers_and_are_not_counted(
    limited: TestClient, engine: Engine, workspace: Workspace
) -> None:
    assert not set(RATE_HEADERS) & set(track(limited, "not-a-key").headers)
    other, _ = key_admin.create_key(engine, workspace.id, "events only", ["events.list"])
    forbidden = track(limited, other)
    assert forbidden.status_code == 403
    assert not set(RATE_HEADERS) & set(forbidden.headers)
    assert numbers(track(limited, workspace.key))[1] == 2_999
    assert not set(RATE_HEADERS) & set(limited.get("/healthz").headers)


def test_every_endpoint_reports_its_buckets_limit(
    limited: TestClient, workspace: Workspace
) -> None:
    used: dict[str, int] = {}  # requests so far per bucket (shared buckets count on)
    for permission in ALL_PERMISSIONS:
        response = limited.get(f"/probe/{permission}", headers=auth(workspace.key))
        assert response.status_code == 200, permission
        bucket = BUCKETS[bucket_for(permission)]
        used[bucket.name] = used.get(bucket.name, 0) + 1
        limit, remaining, reset = numbers(response)
        assert (limit, remaining) == (bucket.limit, bucket.limit - used[bucket.name]), permission
        assert 0 < reset - time.time() <= bucket.period_seconds + 1, permission


# -- 429 ------------------------------------------------------------------------------------


def test_over_the_limit_answers_429_with_body_headers_and_retry_after(
    limited: TestClient, engine: Engine, workspace: Workspace
) -> None:
    set_override(engine, workspace.id, "users_track", 2, 60)
    apply_overrides(limited)
    first, second = track(limited, workspace.key), track(limited, workspace.key)
    assert (first.status_code, second.status_code) == (201, 201)
    assert [numbers(r)[1] for r in (first, second)] == [1, 0]
    refused = track(limited, workspace.key, {})  # refused before the body is even read
    assert refused.status_code == 429
    assert refused.json() == {"message": "Rate Limited"}
    assert refused.headers["content-type"] == "application/json"
    assert numbers(refused) == (2, 0, numbers(second)[2])
    retry_after = int(refused.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert abs(time.time() + retry_after - numbers(refused)[2]) <= 2
    assert "retry-after" not in first.headers


def test_the_window_resets(limited: TestClient, engine: Engine, workspace: Workspace) -> None:
    set_override(engine, workspace.id, "users_track", 3, 2)
    apply_overrides(limited)
    codes = [track(limited, workspace.key).status_code for _ in range(4)]
    assert codes == [201, 201, 201, 429]
    last = track(limited, workspace.key)
    assert last.status_code == 429
    time.sleep(max(0.0, numbers(last)[2] - time.time()) + 0.1)
    again = track(limited, workspace.key)
    assert again.status_code == 201
    assert numbers(again)[:2] == (3, 2)


def test_one_workspace_over_its_limit_does_not_affect_another(
    limited: TestClient, engine: Engine, workspace: Workspace
) -> None:
    other = make_workspace(engine, "other")
    set_override(engine, workspace.id, "users_track", 1, 60)
    apply_overrides(limited)
    assert track(limited, workspace.key).status_code == 201
    assert track(limited, workspace.key).status_code == 429
    for expected_remaining in (2_999, 2_998):
        response = track(limited, other.key)
        assert response.status_code == 201
        assert numbers(response)[:2] == (3_000, expected_remaining)
    assert track(limited, workspace.key).status_code == 429


def test_endpoints_of_a_shared_bucket_share_one_budget_over_http(
    limited: TestClient, engine: Engine, workspace: Workspace
) -> None:
    group = ["custom_attributes.get", "events.get", "events.list", "purchases.product_list"]
    set_override(engine, workspace.id, "custom_data", 4, 60)
    apply_overrides(limited)
    get = [limited.get(f"/probe/{p}", headers=auth(workspace.key)) for p in group]
    assert [(r.status_code, numbers(r)[1]) for r in get] == [(200, 3), (200, 2), (200, 1), (200, 0)]
    assert {limited.get(f"/probe/{p}", headers=auth(workspace.key)).status_code for p in group} == {
        429
    }
    unrelated = limited.get("/probe/events.data_series", headers=auth(workspace.key))
    assert unrelated.status_code == 200 and numbers(unrelated)[0] == 250_000


# -- operator overrides through the CLI -----------------------------------------------------


def cli(*args: str) -> str:
    """Run `heron ARGS` in-process; return its stdout (failing on a non-zero exit)."""
    result = CliRunner().invoke(heron_main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def wait_for_limit(client: TestClient, key: str, limit: int) -> float:
    """Poll until /users/track reports `limit`; return how long it took."""
    started = time.monotonic()
    while time.monotonic() - started < REFRESH_SECONDS + 5:
        response = track(client, key, {})
        if int(response.headers["x-ratelimit-limit"]) == limit:
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"the server never applied limit {limit}")


def test_cli_override_reaches_a_running_server_and_reset_restores_brazes_default(
    limited: TestClient, database_url: str, workspace: Workspace
) -> None:
    assert numbers(track(limited, workspace.key))[0] == 3_000
    cli(
        "workspaces",
        "rate-limit",
        "set",
        "default",
        "users_track",
        "2",
        "60",
        "--database",
        database_url,
    )
    took = wait_for_limit(limited, workspace.key, 2)
    assert took <= REFRESH_SECONDS + 1
    # the poll that saw the new limit opened its window: one request left, then 429
    assert [track(limited, workspace.key).status_code for _ in range(2)] == [201, 429]
    listed = cli("workspaces", "rate-limit", "list", "default", "--database", database_url)
    rows = {line.split("\t")[0]: line.split("\t")[1:4] for line in listed.splitlines()}
    assert set(rows) == set(BUCKETS)
    assert rows["users_track"] == ["2", "60", "override"]
    assert rows["custom_data"] == ["1000", "3600", "default"]
    cli("workspaces", "rate-limit", "reset", "default", "--database", database_url)
    wait_for_limit(limited, workspace.key, 3_000)
    assert track(limited, workspace.key).status_code == 201
    listed = cli("workspaces", "rate-limit", "list", "default", "--database", database_url)
    assert "override" not in listed


def test_cli_refuses_unknown_buckets_workspaces_and_numbers(
    database_url: str, engine: Engine
) -> None:
    runner = CliRunner()
    for args, message in [
        (["set", "default", "nope", "1", "1"], "nope"),
        (["set", "missing", "users_track", "1", "1"], "no workspace named 'missing'"),
        (["set", "default", "users_track", "0", "1"], "0"),
        (["set", "default", "users_track", "1", "0"], "0"),
        (["reset", "default", "nope"], "nope"),
    ]:
        result = runner.invoke(
            heron_main, ["workspaces", "rate-limit", *args, "--database", database_url]
        )
        assert result.exit_code != 0, args
        assert message in result.output, (args, result.output)


def test_cli_reset_of_one_bucket_keeps_the_others(database_url: str, engine: Engine) -> None:
    make_workspace(engine, "ws")
    for bucket in ("users_track", "custom_data"):
        cli("workspaces", "rate-limit", "set", "ws", bucket, "5", "10", "--database", database_url)
    cli("workspaces", "rate-limit", "reset", "ws", "users_track", "--database", database_url)
    listed = cli("workspaces", "rate-limit", "list", "ws", "--database", database_url)
    overridden = [line.split("\t")[0] for line in listed.splitlines() if "\toverride\t" in line]
    assert overridden == ["custom_data"]


# -- switched off ---------------------------------------------------------------------------


def test_rate_limits_off_means_no_limit_and_no_headers(
    engine: Engine, database_url: str, workspace: Workspace
) -> None:
    set_override(engine, workspace.id, "users_track", 1, 60)
    with TestClient(app_for(database_url, rate_limits=False)) as client:
        for _ in range(5):
            response = track(client, workspace.key)
            assert response.status_code == 201
            assert not set(RATE_HEADERS) & set(response.headers)
        assert not client.app.state.rate_limiter.active  # type: ignore[attr-defined]


def test_heron_rate_limits_env_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERON_RATE_LIMITS", "off")
    assert Settings.from_env().rate_limits is False
    monkeypatch.setenv("HERON_RATE_LIMITS", "on")
    assert Settings.from_env().rate_limits is True
    monkeypatch.setenv("HERON_REDIS_URL", "http://nope")
    with pytest.raises(ValueError, match="HERON_REDIS_URL"):
        Settings.from_env()


# -- the OpenAPI document -------------------------------------------------------------------


def test_document_lists_the_headers_and_429_for_every_authenticated_operation() -> None:
    document = openapi.document()
    secured = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            if not operation["security"]:
                assert "x-heron-rate-limit-bucket" not in operation, where
                continue
            secured += 1
            permission = operation["x-heron-permission"]
            assert operation["x-heron-rate-limit-bucket"] == bucket_for(permission), where
            assert f"`{bucket_for(permission)}`" in operation["description"], where
            assert "429" in operation["responses"], where
            for status, response in operation["responses"].items():
                headers = set(response.get("headers", {}))
                if status in ("401", "403"):
                    assert not headers & {"X-RateLimit-Limit", "Retry-After"}, where
                    continue
                assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= (
                    headers
                ), (where, status)
                assert ("Retry-After" in headers) == (status == "429"), (where, status)
    assert secured >= 1
