"""`POST /users/identify`: aliases, emails and phone numbers, with Braze's merge rules."""

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
    make_alias_user,
    one_user,
    post,
    purchase,
    track,
    user_id,
    users,
)

from conftest import Workspace


def _identify(client: TestClient, ws: Workspace, body: dict[str, Any]) -> None:
    """POST /users/identify and require Braze's success answer."""
    response = post(client, ws, "/users/identify", body)
    assert response.status_code == 201, response.text
    assert response.json()["message"] == "success"


def test_alias_user_without_known_external_id_becomes_identified(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    make_alias_user(client, workspace, "dev1", first_name="Ann")
    track(client, workspace, {"events": [event({"user_alias": alias("dev1")})]})
    anonymous = alias_owner(engine, workspace, "dev1")
    response = post(
        client,
        workspace,
        "/users/identify",
        {"aliases_to_identify": [{"external_id": "u1", "user_alias": alias("dev1")}]},
    )
    assert response.json() == {"aliases_processed": 1, "message": "success"}
    assert user_id(engine, workspace, "u1") == anonymous
    user = one_user(client, workspace, "u1")
    assert user["first_name"] == "Ann"
    assert user["user_aliases"] == [alias("dev1")]
    assert user["custom_events"][0]["count"] == 1
    # track by external_id now lands on the same profile
    track(client, workspace, {"events": [event({"external_id": "u1"})]})
    assert one_user(client, workspace, "u1")["custom_events"][0]["count"] == 2
    assert count(engine, users) == 1


def test_alias_user_merges_into_known_user(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    early, late = days_ago(5), days_ago(1)
    make_alias_user(
        client,
        workspace,
        "dev1",
        first_name="Anon",
        home_city="Oslo",
        date_of_first_session=days_ago(30),
        date_of_last_session=days_ago(2),
        only_anon=1,
        shared="anon",
    )
    track(
        client,
        workspace,
        {
            "attributes": [
                {
                    "external_id": "u1",
                    "first_name": "Known",
                    "date_of_first_session": days_ago(20),
                    "date_of_last_session": days_ago(10),
                    "shared": "known",
                }
            ],
            "events": [
                event({"user_alias": alias("dev1")}, "played", early),
                event({"user_alias": alias("dev1")}, "played", early),
                event({"external_id": "u1"}, "played", late),
            ],
            "purchases": [
                purchase({"user_alias": alias("dev1")}, "gem", early, 2.0, 3),
                purchase({"external_id": "u1"}, "gem", late, 1.5, 1),
            ],
        },
    )
    anonymous = alias_owner(engine, workspace, "dev1")
    _identify(
        client,
        workspace,
        {"aliases_to_identify": [{"external_id": "u1", "user_alias": alias("dev1")}]},
    )
    user = one_user(client, workspace, "u1")
    assert user["first_name"] == "Known"  # the identified profile's own value stays
    assert user["home_city"] == "Oslo"  # only the anonymous profile had it
    assert user["custom_attributes"] == {"shared": "known", "only_anon": 1}
    assert user["user_aliases"] == [alias("dev1")]
    assert user["custom_events"] == [{"name": "played", "first": early, "last": late, "count": 3}]
    assert user["purchases"] == [{"name": "gem", "first": early, "last": late, "count": 4}]
    assert user["total_revenue"] == pytest.approx(7.5)
    assert count(engine, users, id=anonymous) == 0
    assert count(engine, events, user_id=anonymous) == 0
    assert count(engine, users) == 1


def test_session_dates_fold_to_earlier_and_later(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    from heron.users.profiles import load

    make_alias_user(
        client,
        workspace,
        "dev1",
        date_of_first_session="2025-01-01T00:00:00Z",
        date_of_last_session="2025-06-01T00:00:00Z",
    )
    track(
        client,
        workspace,
        {
            "attributes": [
                {
                    "external_id": "u1",
                    "date_of_first_session": "2025-02-01T00:00:00Z",
                    "date_of_last_session": "2025-03-01T00:00:00Z",
                }
            ]
        },
    )
    _identify(
        client,
        workspace,
        {"aliases_to_identify": [{"external_id": "u1", "user_alias": alias("dev1")}]},
    )
    known = user_id(engine, workspace, "u1")
    assert known is not None
    with engine.connect() as conn:
        standard = load(conn, known).standard
    assert standard["date_of_first_session"].startswith("2025-01-01")
    assert standard["date_of_last_session"].startswith("2025-06-01")


def test_same_label_on_identified_user_prevents_the_merge(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    make_alias_user(client, workspace, "dev1")
    track(client, workspace, {"attributes": [{"external_id": "u1"}]})
    post(
        client,
        workspace,
        "/users/alias/new",
        {"user_aliases": [{"external_id": "u1", **alias("dev0")}]},
    )
    _identify(
        client,
        workspace,
        {"aliases_to_identify": [{"external_id": "u1", "user_alias": alias("dev1")}]},
    )
    assert count(engine, users) == 2
    assert alias_owner(engine, workspace, "dev1") != user_id(engine, workspace, "u1")


def test_emails_and_phones_with_prioritization(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    track(
        client,
        workspace,
        {
            "attributes": [
                {"email": "a@example.com", "_update_existing_only": False, "first_name": "Old"},
                {"phone": "+1 555 0100", "_update_existing_only": False, "last_name": "Phone"},
                {"external_id": "u2"},
            ]
        },
    )
    track(
        client,
        workspace,
        {"attributes": [{"email": "B@example.com", "_update_existing_only": False}]},
    )
    track(
        client,
        workspace,
        {"attributes": [{"email": "b@example.com", "_update_existing_only": False}]},
    )
    assert count(engine, users) == 4  # emails match case-insensitively: one profile for b
    _identify(
        client,
        workspace,
        {
            "emails_to_identify": [
                {"external_id": "u1", "email": "A@EXAMPLE.com", "prioritization": ["unidentified"]}
            ],
            "phone_numbers_to_identify": [
                {
                    "external_id": "u2",
                    "phone": "+15550100",
                    "prioritization": ["most_recently_updated"],
                }
            ],
        },
    )
    assert one_user(client, workspace, "u1")["first_name"] == "Old"
    assert one_user(client, workspace, "u2")["last_name"] == "Phone"


def test_ambiguous_email_identifies_nobody(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    from sqlalchemy import update

    for n in (1, 2):
        make_alias_user(client, workspace, f"d{n}", email="same@example.com")
    with engine.begin() as conn:  # same update time: most_recently_updated cannot choose
        conn.execute(update(users).values(updated_at_ms=1))
    body = {
        "emails_to_identify": [
            {
                "external_id": "u1",
                "email": "same@example.com",
                "prioritization": ["unidentified", "most_recently_updated"],
            }
        ]
    }
    _identify(client, workspace, body)
    assert user_id(engine, workspace, "u1") is None
    with engine.begin() as conn:
        conn.execute(
            update(users)
            .where(users.c.id == alias_owner(engine, workspace, "d2"))
            .values(updated_at_ms=2)
        )
    _identify(client, workspace, body)
    assert user_id(engine, workspace, "u1") == alias_owner(engine, workspace, "d2")


def test_merge_behavior_none_keeps_only_aliases(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    make_alias_user(client, workspace, "dev1", home_city="Oslo")
    track(
        client,
        workspace,
        {
            "attributes": [{"external_id": "u1"}],
            "events": [event({"user_alias": alias("dev1")})],
        },
    )
    _identify(
        client,
        workspace,
        {
            "aliases_to_identify": [{"external_id": "u1", "user_alias": alias("dev1")}],
            "merge_behavior": "none",
        },
    )
    user = one_user(client, workspace, "u1")
    assert user["user_aliases"] == [alias("dev1")]
    assert "home_city" not in user and "custom_events" not in user
    assert count(engine, users) == 1
    assert count(engine, events) == 0


BAD: list[tuple[Any, str]] = [
    ({}, "One of 'aliases_to_identify', 'emails_to_identify' or 'phone_numbers_to_identify'"),
    ({"aliases_to_identify": 3}, "'aliases_to_identify' must be an array"),
    ({"aliases_to_identify": [{"user_alias": alias("a")}]}, "external_id must be a non-empty"),
    ({"aliases_to_identify": [{"external_id": "u"}]}, ".user_alias must be an object"),
    ({"emails_to_identify": [{"external_id": "u", "email": "x@y"}]}, "prioritization is required"),
    (
        {
            "emails_to_identify": [
                {"external_id": "u", "email": "nope", "prioritization": ["identified"]}
            ]
        },
        "is not a valid email address",
    ),
    (
        {
            "emails_to_identify": [
                {
                    "external_id": "u",
                    "email": "x@y",
                    "prioritization": ["identified", "unidentified"],
                }
            ]
        },
        "only one of 'identified' and 'unidentified'",
    ),
    (
        {
            "phone_numbers_to_identify": [
                {"external_id": "u", "phone": "+1", "prioritization": ["oldest"]}
            ]
        },
        "values must be one of",
    ),
    (
        {
            "aliases_to_identify": [
                {"external_id": "u", "user_alias": alias(f"a{i}")} for i in range(30)
            ],
            "emails_to_identify": [
                {"external_id": "u", "email": "x@y", "prioritization": ["identified"]}
            ]
            * 21,
        },
        "The max number of external_ids and aliases per request was exceeded",
    ),
    (
        {"aliases_to_identify": [], "merge_behavior": "all"},
        "'merge_behavior' must be 'none' or 'merge'",
    ),
]


@pytest.mark.parametrize(("body", "message"), BAD)
def test_bad_input_is_refused_whole(
    client: TestClient, engine: Engine, workspace: Workspace, body: Any, message: str
) -> None:
    make_alias_user(client, workspace, "a0")
    response = post(client, workspace, "/users/identify", body)
    assert response.status_code == 400, response.text
    assert message in response.json()["message"], response.text
    assert user_id(engine, workspace, "u") is None
