"""`POST /users/delete`: every identifier kind, limits, ambiguity, nothing readable afterwards."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient
from users_helpers import (
    alias,
    count,
    event,
    events,
    export,
    make_alias_user,
    one_user,
    post,
    purchase,
    purchases,
    track,
    user_aliases,
    user_id,
    users,
)

from conftest import Workspace, auth
from heron.store.schema import kpi_user_days


def _delete(client: TestClient, ws: Workspace, body: dict[str, Any]) -> int:
    """POST /users/delete; require 201; return `deleted`."""
    response = post(client, ws, "/users/delete", body)
    assert response.status_code == 201, response.text
    assert response.json()["message"] == "success"
    return int(response.json()["deleted"])


def test_delete_removes_profile_aliases_and_history_but_not_aggregates(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    day = "2026-01-05T10:00:00Z"
    body = {
        "attributes": [{"external_id": "u1", "first_name": "Ann", "email": "ann@example.com"}],
        "events": [
            {"external_id": "u1", "name": "played", "time": day, "app_id": workspace.app_id}
        ],
        "purchases": [{**purchase({"external_id": "u1"}, "gem", day), "app_id": workspace.app_id}],
    }
    track(client, workspace, body)
    post(
        client,
        workspace,
        "/users/alias/new",
        {"user_aliases": [{"external_id": "u1", **alias("a")}]},
    )
    old = user_id(engine, workspace, "u1")
    braze_id = one_user(client, workspace, "u1")["braze_id"]
    assert _delete(client, workspace, {"external_ids": ["u1", "nobody"]}) == 1
    for table in (users, user_aliases, events, purchases):
        assert count(engine, table) == 0, table.name
    assert count(engine, kpi_user_days, user_id=old) == 0
    # nothing is readable through any export...
    for identifiers in (
        {"external_ids": ["u1"]},
        {"user_aliases": [alias("a")]},
        {"braze_id": braze_id},
        {"email_address": "ann@example.com"},
    ):
        assert export(client, workspace, **identifiers)["users"] == []
    # ... while the series keep counting what happened (Braze does not decrement them)
    series = client.get(
        "/events/data_series",
        params={"event": "played", "length": "1", "ending_at": "2026-01-05T12:00:00Z"},
        headers=auth(workspace.key),
    ).json()
    assert series["data"] == [{"time": "2026-01-05", "count": 1}]
    # the same external_id starts a new profile (ingest forgot its cached id)
    track(client, workspace, {"events": [event({"external_id": "u1"})]})
    again = one_user(client, workspace, "u1")
    assert again["braze_id"] != braze_id and "first_name" not in again
    assert again["custom_events"][0]["count"] == 1


def test_every_identifier_kind(client: TestClient, engine: Engine, workspace: Workspace) -> None:
    track(
        client,
        workspace,
        {
            "attributes": [
                {"external_id": "b"},
                {"email": "e@example.com", "_update_existing_only": False},
                {"phone": "+4512345678", "_update_existing_only": False},
            ]
        },
    )
    make_alias_user(client, workspace, "al")
    braze_id = one_user(client, workspace, "b")["braze_id"]
    assert _delete(client, workspace, {"braze_ids": [braze_id]}) == 1
    assert _delete(client, workspace, {"user_aliases": [alias("al"), alias("none")]}) == 1
    assert (
        _delete(
            client,
            workspace,
            {"email_addresses": [{"email": "E@example.com", "prioritization": ["unidentified"]}]},
        )
        == 1
    )
    assert (
        _delete(
            client,
            workspace,
            {
                "phone_numbers": [
                    {"phone": "+45 12 34 56 78", "prioritization": ["most_recently_updated"]}
                ]
            },
        )
        == 1
    )
    assert count(engine, users) == 0


def test_ambiguous_email_deletes_nobody(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    for name in ("x", "y"):
        make_alias_user(client, workspace, name, email="twin@example.com")
    with engine.begin() as conn:
        conn.execute(update(users).values(updated_at_ms=7))
    entry = {
        "email": "twin@example.com",
        "prioritization": ["unidentified", "most_recently_updated"],
    }
    assert _delete(client, workspace, {"email_addresses": [entry]}) == 0
    assert count(engine, users) == 2
    track(client, workspace, {"attributes": [{"user_alias": alias("y"), "first_name": "Y"}]})
    assert _delete(client, workspace, {"email_addresses": [entry]}) == 1
    assert count(engine, users) == 1


BAD: list[tuple[Any, str]] = [
    ({}, "Exactly one of 'external_ids', 'user_aliases', 'braze_ids'"),
    ({"external_ids": ["a"], "braze_ids": ["b"]}, "Only one of 'external_ids'"),
    ({"external_ids": "a"}, "'external_ids' must be an array"),
    ({"external_ids": [""]}, "'external_ids'[0] must be a non-empty string"),
    (
        {"external_ids": [f"u{i}" for i in range(51)]},
        "The max number of ids per request was exceeded",
    ),
    ({"user_aliases": [{"alias_name": "a"}]}, "'user_aliases'[0].alias_label"),
    ({"email_addresses": ["a@example.com"]}, "'email_addresses'[0] must be an object"),
    ({"email_addresses": [{"email": "a@example.com"}]}, "prioritization is required"),
    (
        {"email_addresses": [{"email": "a@x", "prioritization": ["least_recently_updated"]}]},
        "values must be one of",
    ),
    ({"phone_numbers": [{"phone": "abc", "prioritization": ["identified"]}]}, "not a valid phone"),
]


@pytest.mark.parametrize(("body", "message"), BAD)
def test_bad_input_is_refused_whole(
    client: TestClient, engine: Engine, workspace: Workspace, body: Any, message: str
) -> None:
    track(client, workspace, {"attributes": [{"external_id": "a"}]})
    response = post(client, workspace, "/users/delete", body)
    assert response.status_code == 400, response.text
    assert message in response.json()["message"], response.text
    assert count(engine, users) == 1
