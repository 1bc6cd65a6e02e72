"""`POST /users/merge`: Braze's merge rules, identifiers, limits and error messages."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient
from users_helpers import (
    alias,
    alias_owner,
    count,
    days_ago,
    event,
    events,
    one_user,
    post,
    purchase,
    track,
    user_id,
    users,
)

from conftest import Workspace


def _merge(client: TestClient, ws: Workspace, updates: list[dict[str, Any]]) -> None:
    """POST /users/merge and require Braze's 202."""
    response = post(client, ws, "/users/merge", {"merge_updates": updates})
    assert (response.status_code, response.json()) == (202, {"message": "success"}), response.text


def test_merge_folds_profile_events_purchases_and_aliases(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    early, mid, late = days_ago(9), days_ago(5), days_ago(1)
    track(
        client,
        workspace,
        {
            "attributes": [
                {
                    "external_id": "old",
                    "first_name": "Old",
                    "country": "NO",
                    "email": "old@example.com",
                    "points": 5,
                    "tier": "gold",
                    "push_tokens": [{"app_id": workspace.app_id, "token": "t-old"}],
                },
                {
                    "external_id": "keep",
                    "first_name": "Keep",
                    "tier": "silver",
                    "push_tokens": [{"app_id": workspace.app_id, "token": "t-keep"}],
                },
            ],
            "events": [
                event({"external_id": "old"}, "opened", early),
                event({"external_id": "keep"}, "opened", mid),
                event({"external_id": "keep"}, "opened", late),
                event({"external_id": "old"}, "shared", mid),
            ],
            "purchases": [purchase({"external_id": "old"}, "gem", early, 3.0, 2)],
        },
    )
    post(
        client,
        workspace,
        "/users/alias/new",
        {"user_aliases": [{"external_id": "old", **alias("o")}]},
    )
    old = user_id(engine, workspace, "old")
    _merge(
        client,
        workspace,
        [
            {
                "identifier_to_merge": {"external_id": "old"},
                "identifier_to_keep": {"external_id": "keep"},
            }
        ],
    )
    assert user_id(engine, workspace, "old") is None
    assert count(engine, events, user_id=old) == 0
    user = one_user(client, workspace, "keep")
    assert user["first_name"] == "Keep"
    assert user["country"] == "NO"
    assert user["email"] == "old@example.com"
    assert user["custom_attributes"] == {"tier": "silver", "points": 5}
    assert user["custom_events"] == [
        {"name": "opened", "first": early, "last": late, "count": 3},
        {"name": "shared", "first": mid, "last": mid, "count": 1},
    ]
    assert user["purchases"] == [{"name": "gem", "first": early, "last": early, "count": 2}]
    assert [t["token"] for t in user["push_tokens"]] == ["t-keep", "t-old"]
    assert user["user_aliases"] == [alias("o")]
    assert alias_owner(engine, workspace, "o") == user_id(engine, workspace, "keep")
    # the merged external_id is free again: tracking it creates a new, empty profile
    track(client, workspace, {"events": [event({"external_id": "old"})]})
    fresh = one_user(client, workspace, "old")
    assert fresh["custom_events"][0]["count"] == 1 and "first_name" not in fresh
    # ... and the cached id of the old profile was not reused by ingest
    assert user_id(engine, workspace, "old") != old


def test_merge_by_alias_and_email(client: TestClient, engine: Engine, workspace: Workspace) -> None:
    track(
        client,
        workspace,
        {
            "attributes": [
                {"user_alias": alias("a1"), "_update_existing_only": False, "last_name": "A"},
                {"external_id": "k", "email": "k@example.com"},
                {"email": "k@example.com", "_update_existing_only": False},
            ]
        },
    )
    assert count(engine, users) == 2  # the email matched the identified profile
    track(
        client,
        workspace,
        {"attributes": [{"user_alias": alias("a2"), "_update_existing_only": False}]},
    )
    _merge(
        client,
        workspace,
        [
            {
                "identifier_to_merge": {"user_alias": alias("a1")},
                "identifier_to_keep": {
                    "email": "K@example.com",
                    "prioritization": ["identified", "most_recently_updated"],
                },
            },
            {
                "identifier_to_merge": {"user_alias": alias("a2")},
                "identifier_to_keep": {"user_alias": alias("a2")},
            },
            {
                "identifier_to_merge": {"external_id": "nobody"},
                "identifier_to_keep": {"external_id": "k"},
            },
        ],
    )
    assert one_user(client, workspace, "k")["last_name"] == "A"
    assert count(engine, users) == 2  # k, and a2 (merged into itself: skipped)


BAD: list[tuple[Any, str]] = [
    ({}, "'merge_updates' must be an array of objects"),
    ({"merge_updates": [1]}, "'merge_updates' must be an array of objects"),
    (
        {"merge_updates": [{"identifier_to_merge": {"external_id": "a"}}]},
        "'merge_updates' must only have 'identifier_to_merge' and 'identifier_to_keep'",
    ),
    (
        {
            "merge_updates": [
                {
                    "identifier_to_merge": {"external_id": "a"},
                    "identifier_to_keep": {"external_id": "b"},
                    "extra": 1,
                }
            ]
        },
        "'merge_updates' must only have 'identifier_to_merge' and 'identifier_to_keep'",
    ),
    (
        {
            "merge_updates": [
                {
                    "identifier_to_merge": {"external_id": 1},
                    "identifier_to_keep": {"external_id": "b"},
                }
            ]
        },
        "identifiers must be objects with an 'external_id' property that is a string",
    ),
    (
        {
            "merge_updates": [
                {
                    "identifier_to_merge": {"email": "a@b"},
                    "identifier_to_keep": {"external_id": "b"},
                }
            ]
        },
        "identifiers must be objects",
    ),
    (
        {
            "merge_updates": [
                {"identifier_to_merge": "a", "identifier_to_keep": {"external_id": "b"}}
            ]
        },
        "identifiers must be objects",
    ),
    (
        {
            "merge_updates": [
                {
                    "identifier_to_merge": {"external_id": "a"},
                    "identifier_to_keep": {"external_id": "b"},
                }
            ]
            * 51
        },
        "a single request may not contain more than 50 merge updates",
    ),
]


@pytest.mark.parametrize(("body", "message"), BAD)
def test_bad_input_is_refused_whole(
    client: TestClient, engine: Engine, workspace: Workspace, body: Any, message: str
) -> None:
    track(client, workspace, {"attributes": [{"external_id": "a"}, {"external_id": "b"}]})
    response = post(client, workspace, "/users/merge", body)
    assert response.status_code == 400, response.text
    assert message in response.json()["message"], response.text
    assert count(engine, users) == 2
