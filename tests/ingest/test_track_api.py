"""`POST /users/track` end to end through the real ASGI app and a real database."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from conftest import Workspace, auth, make_workspace
from heron.admin import keys as key_admin
from heron.analytics.compaction import compact_all
from heron.store.schema import (
    custom_attributes,
    custom_events,
    event_properties,
    event_rollups_hourly,
    event_rollups_recent,
    events,
    products,
    purchase_rollups_hourly,
    purchases,
    user_aliases,
    users,
)

NOW_ISO = datetime.now(UTC).replace(microsecond=0).isoformat()


def track(client: TestClient, key: str, body: Any) -> Any:
    """POST a body to /users/track and return the response."""
    return client.post("/users/track", content=json.dumps(body), headers=auth(key))


def event(external_id: str = "user1", name: str = "played", **extra: Any) -> dict[str, Any]:
    """A valid event object."""
    return {"external_id": external_id, "name": name, "time": NOW_ISO, **extra}


def count(engine: Engine, table: Any, *where: Any) -> int:
    """Rows in a table."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar())


# -- the seed example -----------------------------------------------------------------------


def test_seed_event_example_is_stored_with_alias_created_first(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    alias = {"alias_name": "device123", "alias_label": "my_device_identifier"}
    body = {
        "attributes": [{"user_alias": alias, "_update_existing_only": False}],
        "events": [
            {
                "external_id": "user1",
                "app_id": workspace.app_id,
                "name": "watched_trailer",
                "time": "2013-07-16T19:20:30+01:00",
            },
            {
                "external_id": "user1",
                "app_id": workspace.app_id,
                "name": "rented_movie",
                "time": "2013-07-16T19:20:45+01:00",
                "properties": {"movie": "The Sad Egg", "director": "Dan Alexander"},
            },
            {
                "user_alias": alias,
                "app_id": workspace.app_id,
                "name": "watched_trailer",
                "time": "2013-07-16T19:20:50+01:00",
            },
        ],
    }
    response = track(client, workspace.key, body)
    assert response.status_code == 201, response.text
    assert response.json() == {
        "message": "success",
        "attributes_processed": 1,
        "events_processed": 3,
    }
    assert count(engine, events) == 3
    assert count(engine, users) == 2
    assert count(engine, user_aliases) == 1
    with engine.connect() as conn:
        stored = conn.execute(
            select(events.c.time_ms, events.c.properties, custom_events.c.name)
            .join(custom_events, custom_events.c.id == events.c.event_id)
            .order_by(events.c.time_ms)
        ).all()
    assert [row.name for row in stored] == ["watched_trailer", "rented_movie", "watched_trailer"]
    assert (
        stored[0].time_ms == int(datetime(2013, 7, 16, 18, 20, 30, tzinfo=UTC).timestamp()) * 1000
    )
    assert json.loads(stored[1].properties) == {"movie": "The Sad Egg", "director": "Dan Alexander"}


def test_alias_event_for_unknown_alias_is_refused_not_stored(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    body = {
        "events": [
            event(),
            {"user_alias": {"alias_name": "a", "alias_label": "b"}, "name": "x", "time": NOW_ISO},
        ]
    }
    response = track(client, workspace.key, body)
    assert response.status_code == 201
    data = response.json()
    assert data["events_processed"] == 1
    assert data["errors"] == [
        {
            "type": "no user matches the identifier and '_update_existing_only' is true",
            "input_array": "events",
            "index": 1,
        }
    ]
    assert count(engine, events) == 1


# -- authentication and authorization -------------------------------------------------------


def test_missing_and_unknown_keys_are_401(client: TestClient, workspace: Workspace) -> None:
    body = json.dumps({"events": [event()]})
    assert client.post("/users/track", content=body).status_code == 401
    response = client.post("/users/track", content=body, headers=auth("nope"))
    assert response.status_code == 401
    assert response.json() == {"message": "Invalid API key"}
    basic = client.post(
        "/users/track", content=body, headers={"Authorization": f"Basic {workspace.key}"}
    )
    assert basic.status_code == 401


def test_key_without_permission_is_403(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    secret, _ = key_admin.create_key(engine, workspace.id, "ro", ["events.list"])
    response = track(client, secret, {"events": [event()]})
    assert response.status_code == 403
    assert response.json() == {"message": "Access Denied"}
    assert count(engine, events) == 0


def test_revoked_key_stops_working(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    secret, key = key_admin.create_key(engine, workspace.id, "tmp", ["users.track"])
    assert track(client, secret, {"events": [event()]}).status_code == 201
    key_admin.revoke_key(engine, key.identifier)
    time.sleep(2.1)  # the server caches keys for at most 2 s
    assert track(client, secret, {"events": [event()]}).status_code == 401


def test_an_expired_key_is_looked_up_once_for_all_waiting_requests(
    engine: Engine, workspace: Workspace
) -> None:
    """Regression: every request arriving after the cache entry expired ran its own lookup
    (32 connections: 32 queries and new pool connections every 2 s per worker)."""
    import asyncio

    from heron.http.auth import KeyRing

    loads: list[str] = []

    class CountingKeyRing(KeyRing):
        def _load(self, key_hash: str) -> Any:
            loads.append(key_hash)
            time.sleep(0.05)  # a lookup that takes a while, as under load
            return super()._load(key_hash)

    keyring = CountingKeyRing(engine)

    async def burst() -> set[Any]:
        found = await asyncio.gather(*(keyring.principal(workspace.key) for _ in range(32)))
        return {p.workspace_id if p is not None else None for p in found}

    assert asyncio.run(burst()) == {workspace.id}
    assert len(loads) == 1
    keyring.forget_principals()
    assert asyncio.run(burst()) == {workspace.id}  # a new loop: a new lookup, again only one
    assert len(loads) == 2
    assert asyncio.run(burst()) == {workspace.id}  # cached
    assert len(loads) == 2


def test_a_lookup_begun_before_a_settings_change_is_not_cached(
    engine: Engine, workspace: Workspace
) -> None:
    """A key lookup in flight when a workspace setting changes may have read the old setting:
    its waiters get it, but the next request looks the key up again."""
    import asyncio
    import threading

    from heron.http.auth import KeyRing

    loads: list[str] = []
    release = threading.Event()

    class SlowKeyRing(KeyRing):
        def _load(self, key_hash: str) -> Any:
            loads.append(key_hash)
            release.wait(5)
            return super()._load(key_hash)

    keyring = SlowKeyRing(engine)

    async def scenario() -> None:
        first = asyncio.ensure_future(keyring.principal(workspace.key))
        while not loads:
            await asyncio.sleep(0.01)
        keyring.forget_principals()  # e.g. the workspace's time zone changed meanwhile
        release.set()
        assert (await first) is not None
        assert (await keyring.principal(workspace.key)) is not None
        assert (await keyring.principal(workspace.key)) is not None

    asyncio.run(scenario())
    assert len(loads) == 2  # the stale answer was not cached; the fresh one was


def test_ip_allowlist(engine: Engine, database_url: str, workspace: Workspace) -> None:
    from heron.app import create_app
    from heron.config import Settings

    allowed, _ = key_admin.create_key(engine, workspace.id, "lan", ["users.track"], ["10.0.0.0/8"])
    app = create_app(Settings(database_url=database_url))
    body = json.dumps({"events": [event()]})
    with TestClient(app, client=("10.1.2.3", 5000)) as inside:
        assert inside.post("/users/track", content=body, headers=auth(allowed)).status_code == 201
    with TestClient(app, client=("192.168.1.1", 5000)) as outside:
        response = outside.post("/users/track", content=body, headers=auth(allowed))
        assert response.status_code == 401
        # a key without an allowlist works from anywhere
        assert (
            outside.post("/users/track", content=body, headers=auth(workspace.key)).status_code
            == 201
        )


def test_last_seen_is_recorded(client: TestClient, engine: Engine, workspace: Workspace) -> None:
    assert track(client, workspace.key, {"events": [event()]}).status_code == 201
    client.app.state.keyring.flush_last_seen()  # type: ignore[attr-defined]
    (key,) = [k for k in key_admin.list_keys(engine) if k.name == "test"]
    assert key.last_seen_ms is not None and abs(key.last_seen_ms - time.time() * 1000) < 60_000


# -- fatal errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message_part"),
    [
        (b"{not json", "Malformed JSON"),
        (b"", "empty"),
        (b"[1, 2]", "must be a JSON object, not an array"),
        (b'"text"', "must be a JSON object, not a string"),
        (b"null", "must be a JSON object, not null"),  # was called "a number"
        (b"true", "must be a JSON object, not a boolean"),
        (b"12.5", "must be a JSON object, not a number"),
        (b"\xff\xfe", "Malformed JSON"),
        (b'{"events": NaN}', "Malformed JSON"),
        (b'{"events": [1e999]}', "Malformed JSON"),
        (b'{"events": {"name": "x"}}', "'events' must be an array"),
        (b"{}", "must include"),
        (b'{"unrelated": []}', "must include"),
    ],
)
def test_malformed_requests_are_400(
    client: TestClient, engine: Engine, workspace: Workspace, content: bytes, message_part: str
) -> None:
    response = client.post("/users/track", content=content, headers=auth(workspace.key))
    assert response.status_code == 400, response.text
    assert message_part in response.json()["message"]
    assert count(engine, users) == 0


def test_76_objects_is_max_input_length_exceeded(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    response = track(client, workspace.key, {"events": [event()] * 75, "purchases": [{}] * 76})
    assert response.status_code == 400
    assert response.json()["message"] == "Max Input Length Exceeded"
    assert count(engine, events) == 0
    ok = track(client, workspace.key, {"events": [event()] * 75, "attributes": [{}] * 75})
    assert ok.status_code == 201


def test_body_over_4mb_is_413(client: TestClient, workspace: Workspace) -> None:
    big = b'{"events": [], "pad": "' + b"x" * (4 * 1024 * 1024) + b'"}'
    response = client.post("/users/track", content=big, headers=auth(workspace.key))
    assert response.status_code == 413
    assert response.json() == {"message": "Request Entity Too Large"}


def test_unknown_path_is_404_and_wrong_method_405(client: TestClient, workspace: Workspace) -> None:
    response = client.get("/users/nope", headers=auth(workspace.key))
    assert response.status_code == 404
    assert response.json() == {"message": "Invalid URL"}
    assert client.get("/users/track", headers=auth(workspace.key)).status_code == 405


# -- partial errors and counts --------------------------------------------------------------


def test_invalid_objects_are_reported_and_the_rest_stored(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    body = {
        "events": [
            event(),
            {"name": "no_user", "time": NOW_ISO},
            event(name=""),
            "junk",
            event(properties={"time": 1}),
        ],
        "purchases": [
            {
                "external_id": "user1",
                "product_id": "p",
                "currency": "USD",
                "price": 1.5,
                "time": NOW_ISO,
                "quantity": 2,
            },
            {
                "external_id": "user1",
                "product_id": "p",
                "currency": "XXY",
                "price": 1,
                "time": NOW_ISO,
            },
        ],
        "attributes": [{"external_id": "user1", "first_name": "Ann"}, {"first_name": "Nobody"}],
    }
    response = track(client, workspace.key, body)
    assert response.status_code == 201
    data = response.json()
    assert data["message"] == "success"
    assert (
        data["attributes_processed"],
        data["events_processed"],
        data["purchases_processed"],
    ) == (1, 1, 1)
    assert [(e["input_array"], e["index"]) for e in data["errors"]] == [
        ("attributes", 1),
        ("events", 1),
        ("events", 2),
        ("events", 3),
        ("events", 4),
        ("purchases", 1),
    ]
    assert data["errors"][4]["type"] == "Invalid 'properties' field"
    assert all(isinstance(e["type"], str) and e["type"] for e in data["errors"])
    assert count(engine, events) == 1
    assert count(engine, purchases) == 1
    assert count(engine, users) == 1


def test_counts_only_for_arrays_sent(client: TestClient, workspace: Workspace) -> None:
    response = track(client, workspace.key, {"events": [event()]})
    assert response.json() == {"message": "success", "events_processed": 1}
    empty = track(client, workspace.key, {"purchases": []})
    assert empty.json() == {"message": "success", "purchases_processed": 0}


def test_duplicate_events_are_not_deduplicated(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    track(client, workspace.key, {"events": [event(), event()]})
    assert count(engine, events) == 2


def test_future_times_are_clamped_to_now(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    before = int(time.time() * 1000)
    track(client, workspace.key, {"events": [event(time="2999-01-01T00:00:00Z")]})
    with engine.connect() as conn:
        stored = conn.execute(select(events.c.time_ms)).scalar()
    assert before <= stored <= int(time.time() * 1000)


# -- identifiers and update-only ------------------------------------------------------------


def test_update_existing_only_refuses_unknown_external_id(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    response = track(
        client, workspace.key, {"events": [event("ghost", _update_existing_only=True)]}
    )
    assert response.json()["events_processed"] == 0
    assert response.json()["errors"][0]["index"] == 0
    assert count(engine, users) == 0
    track(client, workspace.key, {"events": [event("ghost")]})
    again = track(client, workspace.key, {"events": [event("ghost", _update_existing_only=True)]})
    assert again.json() == {"message": "success", "events_processed": 1}
    assert count(engine, users) == 1


def test_new_profiles_get_a_braze_id_and_braze_id_identifies(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    track(client, workspace.key, {"events": [event("u")]})
    with engine.connect() as conn:
        braze_id = conn.execute(select(users.c.braze_id)).scalar()
    assert isinstance(braze_id, str) and len(braze_id) == 24
    by_braze = track(
        client, workspace.key, {"events": [{"braze_id": braze_id, "name": "b", "time": NOW_ISO}]}
    )
    assert by_braze.json() == {"message": "success", "events_processed": 1}
    unknown = track(
        client, workspace.key, {"events": [{"braze_id": "0" * 24, "name": "b", "time": NOW_ISO}]}
    )
    assert unknown.json()["events_processed"] == 0
    assert count(engine, users) == 1


def test_email_identifier_creates_then_matches_preferring_identified_profiles(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    first = track(
        client,
        workspace.key,
        {"events": [{"email": "Ann@Example.com", "name": "e", "time": NOW_ISO}]},
    )
    assert first.json()["events_processed"] == 1
    assert count(engine, users) == 1  # an email-only profile
    # an identified profile with the same email (case differs) takes precedence from now on
    track(
        client, workspace.key, {"attributes": [{"external_id": "ann", "email": "ann@example.com"}]}
    )
    track(
        client,
        workspace.key,
        {"events": [{"email": "ANN@example.com", "name": "e2", "time": NOW_ISO}]},
    )
    with engine.connect() as conn:
        owner = conn.execute(
            select(users.c.external_id)
            .join(events, events.c.user_id == users.c.id)
            .join(custom_events, custom_events.c.id == events.c.event_id)
            .where(custom_events.c.name == "e2")
        ).scalar()
    assert owner == "ann"
    assert count(engine, users) == 2


def test_phone_identifier_matches_formatted_numbers(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    track(
        client,
        workspace.key,
        {"events": [{"phone": "+1 (555) 010-9999", "name": "e", "time": NOW_ISO}]},
    )
    track(
        client, workspace.key, {"events": [{"phone": "+15550109999", "name": "e", "time": NOW_ISO}]}
    )
    assert count(engine, users) == 1
    assert count(engine, events) == 2


def test_alias_user_needs_update_existing_only_false(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    alias = {"alias_name": "n", "alias_label": "l"}
    omitted = track(client, workspace.key, {"attributes": [{"user_alias": alias, "x": 1}]})
    assert omitted.json()["attributes_processed"] == 0
    assert count(engine, users) == 0
    created = track(
        client,
        workspace.key,
        {"attributes": [{"user_alias": alias, "_update_existing_only": False, "x": 1}]},
    )
    assert created.json() == {"message": "success", "attributes_processed": 1}
    assert count(engine, users) == 1


# -- what is stored -------------------------------------------------------------------------


def test_attributes_are_applied_in_order(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    body = {
        "attributes": [
            {
                "external_id": "u",
                "first_name": "Ann",
                "country": "us",
                "score": 1,
                "tags": ["a", "b"],
                "gone": True,
            },
            {"external_id": "u", "score": {"inc": 4}, "tags": {"add": ["c", "a"]}, "gone": None},
            {"external_id": "u", "tags": {"remove": ["b"]}},
        ]
    }
    assert track(client, workspace.key, body).json()["attributes_processed"] == 3
    with engine.connect() as conn:
        row = conn.execute(select(users.c.standard, users.c.custom)).one()
    standard, custom = json.loads(row.standard), json.loads(row.custom)
    assert standard["first_name"] == "Ann" and standard["country"] == "US"
    assert custom == {"score": 5, "tags": ["c", "a"]}
    with engine.connect() as conn:
        catalog = dict(
            conn.execute(select(custom_attributes.c.name, custom_attributes.c.data_type)).all()
        )
    assert catalog["score"] == "Number" and catalog["tags"] == "Array"


def test_rollups_and_catalog_match_raw_rows(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    hour = "2026-01-05T10:{:02d}:00Z"
    body = {
        "events": [
            event(
                f"u{i % 3}",
                name="a" if i % 2 else "b",
                time=hour.format(i),
                app_id=workspace.app_id if i % 3 == 0 else None,
                properties={"n": i, "s": "x"},
            )
            for i in range(30)
        ],
        "purchases": [
            {
                "external_id": "u1",
                "product_id": "sku",
                "currency": "eur",
                "price": 2.5,
                "quantity": 3,
                "time": hour.format(1),
                "app_id": workspace.app_id,
            }
        ],
    }
    assert track(client, workspace.key, body).status_code == 201
    bucket = int(datetime(2026, 1, 5, 10, tzinfo=UTC).timestamp())
    with engine.begin() as conn:  # fold the recent rollups so the hourly table holds them all
        compact_all(conn)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(event_rollups_recent)).scalar() == 0
        rollups = {
            (r.event_id, r.app_id, r.hour): r.count
            for r in conn.execute(select(event_rollups_hourly)).all()
        }
        ids = dict(conn.execute(select(custom_events.c.name, custom_events.c.id)).all())
        props = conn.execute(select(event_properties.c.name, event_properties.c.data_type)).all()
        prollup = conn.execute(select(purchase_rollups_hourly)).all()
        product = conn.execute(select(products)).one()
    assert rollups[(ids["a"], 0, bucket)] == 15
    assert rollups[(ids["b"], 0, bucket)] == 15
    assert rollups[(ids["a"], workspace.app_key, bucket)] == 5  # i odd and i % 3 == 0
    assert rollups[(ids["b"], workspace.app_key, bucket)] == 5
    assert sorted(set(props)) == [("n", "Number"), ("s", "String")]
    assert product.name == "sku" and product.first_seen_ms is not None
    assert len(prollup) == 4  # (all, sku) x (all apps, the app)
    assert {(r.purchases, r.quantity, r.revenue) for r in prollup} == {(1, 3, 7.5)}
    with engine.connect() as conn:
        currency = conn.execute(select(purchases.c.currency)).scalar()
    assert currency == "EUR"


def test_unknown_app_id_is_an_object_error(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    response = track(client, workspace.key, {"events": [event(app_id="not-an-app")]})
    assert response.json()["events_processed"] == 0
    assert "app_id" in response.json()["errors"][0]["type"]


# -- workspace isolation --------------------------------------------------------------------


def test_workspaces_are_isolated(client: TestClient, engine: Engine, workspace: Workspace) -> None:
    other = make_workspace(engine, "other")
    track(client, workspace.key, {"events": [event("same")]})
    track(client, other.key, {"events": [event("same")]})
    with engine.connect() as conn:
        owners = conn.execute(select(users.c.workspace_id).order_by(users.c.workspace_id)).all()
    assert [o[0] for o in owners] == [workspace.id, other.id]
    # one workspace's app is not an app of the other
    cross = track(client, other.key, {"events": [event(app_id=workspace.app_id)]})
    assert cross.json()["events_processed"] == 0
    # update-only against a user that exists only in the other workspace is refused
    track(client, workspace.key, {"events": [event("ws1-only")]})
    only_there = track(
        client, other.key, {"events": [event("ws1-only", _update_existing_only=True)]}
    )
    assert only_there.json()["events_processed"] == 0


# -- regressions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "obj",
    [
        {"external_id": "a\u0000b", "name": "e", "time": NOW_ISO},
        {"user_alias": {"alias_name": "n\u0000", "alias_label": "l"}, "name": "e", "time": NOW_ISO},
        {"email": "a\u0000@example.com", "name": "e", "time": NOW_ISO},
        {"phone": "+1555\u0000", "name": "e", "time": NOW_ISO},
    ],
)
def test_nul_in_identifiers_is_an_object_error_not_a_failed_write(
    client: TestClient, engine: Engine, workspace: Workspace, obj: dict[str, Any]
) -> None:
    # PostgreSQL text cannot hold NUL: such a value must be refused before storage, and the
    # valid neighbour in the same request must still be stored.
    response = track(client, workspace.key, {"events": [obj, event()]})
    assert response.status_code == 201
    assert response.json()["events_processed"] == 1
    assert [e["index"] for e in response.json()["errors"]] == [0]
    assert count(engine, events) == 1


@pytest.mark.parametrize(
    "obj",
    [
        {"external_id": "u", "bad\u0000key": 1},
        {"external_id": "u", "email": "x\u0000@example.com"},
    ],
)
def test_nul_in_attribute_names_and_email_is_an_object_error(
    client: TestClient, engine: Engine, workspace: Workspace, obj: dict[str, Any]
) -> None:
    response = track(client, workspace.key, {"attributes": [obj, {"external_id": "v", "ok": 1}]})
    assert response.status_code == 201
    assert response.json()["attributes_processed"] == 1
    assert [e["index"] for e in response.json()["errors"]] == [0]


@pytest.mark.parametrize(
    "body",
    [
        # a phone key longer than the old 64-character column (PostgreSQL answered 503)
        {"attributes": [{"external_id": "u1", "phone": "+1" + "5" * 200}]},
        {"events": [{"phone": "+1" + "5" * 400, "name": "e", "time": NOW_ISO}]},
        # a lower-cased email longer than the address ("İ".lower() is two characters)
        {"events": [{"email": "İ" * 240 + "@a.bc", "name": "e", "time": NOW_ISO}]},
        # an alias whose index entry would pass PostgreSQL's btree limit in 4-byte characters
        {
            "attributes": [
                {
                    "user_alias": {"alias_name": "😀" * 255, "alias_label": "😀" * 255},
                    "_update_existing_only": False,
                }
            ]
        },
    ],
)
def test_long_identifiers_are_stored_on_every_backend(
    client: TestClient, workspace: Workspace, body: dict[str, Any]
) -> None:
    response = track(client, workspace.key, body)
    assert response.status_code == 201, response.text
    assert "errors" not in response.json()


def test_over_long_alias_and_email_identifiers_are_object_errors(
    client: TestClient, workspace: Workspace
) -> None:
    body = {
        "events": [
            {"email": "a" * 251 + "@b.cd", "name": "e", "time": NOW_ISO},  # 256 chars
            {
                "user_alias": {"alias_name": "n" * 256, "alias_label": "l"},
                "name": "e",
                "time": NOW_ISO,
            },
        ]
    }
    response = track(client, workspace.key, body)
    assert response.json()["events_processed"] == 0
    assert [e["index"] for e in response.json()["errors"]] == [0, 1]


@pytest.mark.parametrize("when", ["0001-01-01T00:30:00Z", "9999-12-31T23:30:00-05:00"])
def test_events_at_the_edges_of_time_in_a_zoned_workspace(
    client: TestClient, engine: Engine, when: str
) -> None:
    # Regression: the local-hour bucket overflowed Python's datetime range in non-UTC zones and
    # failed the whole commit group (503).
    zoned = make_workspace(engine, "zoned", "America/New_York")
    response = track(client, zoned.key, {"events": [event(time=when), event()]})
    assert response.status_code == 201, response.text
    assert response.json() == {"message": "success", "events_processed": 2}
