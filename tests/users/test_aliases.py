"""`POST /users/alias/new` and `/users/alias/update` on both backends."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient
from users_helpers import (
    alias,
    alias_owner,
    count,
    event,
    export,
    make_alias_user,
    one_user,
    post,
    track,
    user_id,
    users,
)

from conftest import Workspace


def test_new_alias_on_identified_user_and_alias_only_user(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    track(client, workspace, {"attributes": [{"external_id": "u1", "first_name": "Ann"}]})
    response = post(
        client,
        workspace,
        "/users/alias/new",
        {
            "user_aliases": [
                {"external_id": "u1", **alias("a1", "amplitude")},
                alias("anon", "device"),
                {"external_id": "nobody", **alias("lost", "device")},
            ]
        },
    )
    assert (response.status_code, response.json()) == (
        201,
        {"aliases_processed": 3, "message": "success"},
    )
    assert one_user(client, workspace, "u1")["user_aliases"] == [alias("a1", "amplitude")]
    # the alias-only user exists and takes track data through its alias
    assert alias_owner(engine, workspace, "anon") not in (None, user_id(engine, workspace, "u1"))
    done = track(client, workspace, {"events": [event({"user_alias": alias("anon")})]})
    assert done["events_processed"] == 1
    found = export(client, workspace, user_aliases=[alias("anon")])["users"]
    assert [u["custom_events"][0]["count"] for u in found] == [1]
    # an unknown external_id gets nothing and no profile is created
    assert alias_owner(engine, workspace, "lost") is None
    assert count(engine, users) == 2


def test_taken_alias_and_taken_label_change_nothing(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    track(client, workspace, {"attributes": [{"external_id": "u1"}, {"external_id": "u2"}]})
    first = {"user_aliases": [{"external_id": "u1", **alias("x", "crm")}]}
    assert post(client, workspace, "/users/alias/new", first).status_code == 201
    again = {
        "user_aliases": [
            {"external_id": "u2", **alias("x", "crm")},  # alias already u1's
            {"external_id": "u1", **alias("y", "crm")},  # u1 already has a 'crm' alias
            alias("x", "crm"),  # no new alias-only user for a taken alias
        ]
    }
    assert post(client, workspace, "/users/alias/new", again).json()["aliases_processed"] == 3
    assert alias_owner(engine, workspace, "x", "crm") == user_id(engine, workspace, "u1")
    assert alias_owner(engine, workspace, "y", "crm") is None
    assert count(engine, users) == 2


def test_alias_update_renames_and_track_follows(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    make_alias_user(client, workspace, "old")
    # the writer caches alias -> user: the rename must not leave the old name working
    track(client, workspace, {"events": [event({"user_alias": alias("old")})]})
    make_alias_user(client, workspace, "other")
    body = {
        "alias_updates": [
            {"alias_label": "device", "old_alias_name": "old", "new_alias_name": "new"},
            {"alias_label": "device", "old_alias_name": "missing", "new_alias_name": "m2"},
            {"alias_label": "device", "old_alias_name": "other", "new_alias_name": "new"},
        ]
    }
    response = post(client, workspace, "/users/alias/update", body)
    assert (response.status_code, response.json()) == (
        201,
        {"aliases_processed": 3, "message": "success"},
    )
    assert alias_owner(engine, workspace, "old") is None
    assert alias_owner(engine, workspace, "other") is not None  # 'new' was taken
    assert alias_owner(engine, workspace, "m2") is None
    stale = post(
        client, workspace, "/users/track", {"events": [event({"user_alias": alias("old")})]}
    )
    assert stale.json()["events_processed"] == 0
    track(client, workspace, {"events": [event({"user_alias": alias("new")})]})
    found = export(client, workspace, user_aliases=[alias("new")])["users"][0]
    assert found["custom_events"][0]["count"] == 2


BAD_NEW: list[tuple[Any, str]] = [
    ({}, "'user_aliases' is required and must be an array"),
    ({"user_aliases": {}}, "'user_aliases' must be an array"),
    ({"user_aliases": [1]}, "'user_aliases'[0] must be an object"),
    ({"user_aliases": [{"alias_label": "l"}]}, "'user_aliases'[0].alias_name must be a non-empty"),
    ({"user_aliases": [{"alias_name": "n", "alias_label": ""}]}, "alias_label must be a non-empty"),
    ({"user_aliases": [{"alias_name": "n" * 256, "alias_label": "l"}]}, "at most 255 characters"),
    ({"user_aliases": [{**alias("n"), "external_id": 5}]}, "external_id must be a non-empty"),
    (
        {"user_aliases": [alias(f"n{i}") for i in range(51)]},
        "The max number of external_ids and aliases per request was exceeded",
    ),
]


@pytest.mark.parametrize(("body", "message"), BAD_NEW)
def test_alias_new_refuses_bad_input_whole(
    client: TestClient, engine: Engine, workspace: Workspace, body: Any, message: str
) -> None:
    response = post(client, workspace, "/users/alias/new", body)
    assert response.status_code == 400, response.text
    assert message in response.json()["message"], response.text
    assert count(engine, users) == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"alias_updates": "x"}, "'alias_updates' must be an array"),
        ({"alias_updates": [{"alias_label": "d", "old_alias_name": "o"}]}, "'alias_updates'[0]"),
        (
            {
                "alias_updates": [
                    {"alias_label": "d", "old_alias_name": f"o{i}", "new_alias_name": "n"}
                    for i in range(51)
                ]
            },
            "The max number of external_ids and aliases per request was exceeded",
        ),
    ],
)
def test_alias_update_refuses_bad_input(
    client: TestClient, workspace: Workspace, body: Any, message: str
) -> None:
    response = post(client, workspace, "/users/alias/update", body)
    assert response.status_code == 400
    assert message in response.json()["message"], response.text


def test_fifty_aliases_are_accepted(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    body = {"user_aliases": [alias(f"n{i}") for i in range(50)]}
    assert post(client, workspace, "/users/alias/new", body).json()["aliases_processed"] == 50
    assert count(engine, users) == 50
