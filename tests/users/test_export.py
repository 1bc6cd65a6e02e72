"""`POST /users/export/ids`: identifiers, Braze's export object, summaries, fields_to_export."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient
from users_helpers import alias, days_ago, event, export, make_alias_user, post, purchase, track

from conftest import Workspace


def test_export_object_and_summaries(client: TestClient, workspace: Workspace) -> None:
    old, early, late = days_ago(200), days_ago(30), days_ago(2)
    track(
        client,
        workspace,
        {
            "attributes": [
                {
                    "external_id": "u1",
                    "first_name": "Ann",
                    "last_name": "Lee",
                    "email": "ann@example.com",
                    "phone": "+4512345678",
                    "dob": "1990-02-03",
                    "country": "DK",
                    "home_city": "Aarhus",
                    "language": "da",
                    "time_zone": "Europe/Copenhagen",
                    "gender": "F",
                    "email_subscribe": "opted_in",
                    "current_location": {"longitude": 10.2, "latitude": 56.1},
                    "push_tokens": [{"app_id": workspace.app_id, "token": "tok"}],
                    "level": 7,
                }
            ],
            "events": [
                event({"external_id": "u1"}, "opened", old),
                event({"external_id": "u1"}, "opened", late),
                event({"external_id": "u1"}, "stale", old),  # nothing in the last 90 days
                event({"external_id": "u1"}, "bought", early),
            ],
            "purchases": [
                purchase({"external_id": "u1"}, "gem", early, 2.5, 2),
                purchase({"external_id": "u1"}, "gem", late, 1.0, 1),
            ],
        },
    )
    post(
        client,
        workspace,
        "/users/alias/new",
        {"user_aliases": [{"external_id": "u1", **alias("a")}]},
    )
    found = export(client, workspace, external_ids=["u1", "ghost"], user_aliases=[alias("nobody")])
    assert found["message"] == "success"
    assert found["invalid_user_ids"] == ["ghost", "nobody"]
    [user] = found["users"]
    assert list(user)[:5] == [
        "created_at",
        "external_id",
        "user_aliases",
        "braze_id",
        "random_bucket",
    ]
    assert user["external_id"] == "u1" and len(user["braze_id"]) == 24
    assert 0 <= user["random_bucket"] < 10_000
    assert user["user_aliases"] == [alias("a")]
    assert {k: user[k] for k in ("first_name", "last_name", "email", "dob", "country")} == {
        "first_name": "Ann",
        "last_name": "Lee",
        "email": "ann@example.com",
        "dob": "1990-02-03",
        "country": "DK",
    }
    assert user["last_coordinates"] == [10.2, 56.1]
    assert user["custom_attributes"] == {"level": 7}
    assert user["custom_events"] == [
        {"name": "bought", "first": early, "last": early, "count": 1},
        {"name": "opened", "first": old, "last": late, "count": 2},
    ]
    assert user["purchases"] == [{"name": "gem", "first": early, "last": late, "count": 3}]
    assert user["total_revenue"] == pytest.approx(6.0)
    assert user["push_tokens"] == [{"app": "app", "token": "tok"}]
    assert user["email_subscribe"] == "opted_in"
    assert "push_subscribe" not in user  # empty fields are left out
    narrowed = export(
        client, workspace, external_ids=["u1"], fields_to_export=["email", "purchases"]
    )
    assert narrowed["users"] == [{"email": "ann@example.com", "purchases": user["purchases"]}]
    assert "invalid_user_ids" not in narrowed


def test_single_identifiers(client: TestClient, engine: Engine, workspace: Workspace) -> None:
    make_alias_user(client, workspace, "x", email="same@example.com", phone="+1 (555) 0101")
    make_alias_user(client, workspace, "y", email="SAME@example.com")
    by_email = export(
        client, workspace, email_address="same@example.com", fields_to_export=["user_aliases"]
    )
    assert by_email["users"] == [{"user_aliases": [alias("x")]}, {"user_aliases": [alias("y")]}]
    by_phone = export(client, workspace, phone="+15550101", fields_to_export=["user_aliases"])
    assert by_phone["users"] == [{"user_aliases": [alias("x")]}]
    braze_id = by_email_id = export(client, workspace, user_aliases=[alias("y")])["users"][0][
        "braze_id"
    ]
    assert export(client, workspace, braze_id=braze_id, fields_to_export=["braze_id"])["users"] == [
        {"braze_id": by_email_id}
    ]
    none = export(client, workspace, device_id="dev-1")
    assert none == {"users": [], "invalid_user_ids": ["dev-1"], "message": "success"}


BAD: list[tuple[Any, str]] = [
    ({}, "One of 'external_ids', 'user_aliases', 'device_id', 'braze_id'"),
    ({"braze_id": "a", "phone": "+1"}, "exactly one of 'device_id'"),
    ({"external_ids": ["a"], "email_address": "a@b"}, "exactly one of 'device_id'"),
    (
        {
            "external_ids": [f"u{i}" for i in range(30)],
            "user_aliases": [alias(f"a{i}") for i in range(21)],
        },
        "The max number of external_ids and aliases per request was exceeded",
    ),
    ({"external_ids": [1]}, "'external_ids'[0] must be a non-empty string"),
    ({"email_address": "plain"}, "'email_address' is not a valid email address"),
    ({"external_ids": ["a"], "fields_to_export": "email"}, "'fields_to_export' must be an array"),
    ({"external_ids": ["a"], "fields_to_export": ["email", "shoe_size"]}, "unknown fields"),
]


@pytest.mark.parametrize(("body", "message"), BAD)
def test_bad_input(client: TestClient, workspace: Workspace, body: Any, message: str) -> None:
    response = post(client, workspace, "/users/export/ids", body)
    assert response.status_code == 400, response.text
    assert message in response.json()["message"], response.text
