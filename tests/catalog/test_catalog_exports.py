"""Braze's catalog exports end to end: `/events`, `/custom_attributes`, `/events/list`,
`/purchases/product_list` (paging, Link headers, cursors, order, statuses, isolation)."""

from __future__ import annotations

import base64

import pytest
from catalog_helpers import event, links, purchase, seed, track, walk
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from conftest import Workspace, auth, make_workspace
from heron.admin import keys as key_admin
from heron.catalog.kinds import BLOCKLISTED, PURGED, PURGING, TRASHED


def _names(count: int) -> list[str]:
    """`count` distinct names, deliberately not inserted in order."""
    return [f"event_{i:04d}" for i in reversed(range(count))]


@pytest.mark.parametrize("count", [0, 1, 50, 51, 100, 101])
def test_events_pages_and_link_headers(
    client: TestClient, engine: Engine, workspace: Workspace, count: int
) -> None:
    seed(engine, workspace.id, "events", _names(count))
    first = client.get("/events", headers=auth(workspace.key))
    assert first.status_code == 200
    body = first.json()
    assert body["message"] == "success"
    assert len(body["events"]) == min(count, 50)
    if count <= 50:
        assert "link" not in first.headers
    else:
        assert set(links(first)) == {"next"}
    pages = walk(client, workspace.key, "/events", "events")
    assert [len(p) for p in pages] == (
        [min(count, 50)] if count <= 50 else [50] * (count // 50) + [count % 50] * bool(count % 50)
    )
    assert [n for page in pages for n in page] == sorted(_names(count))


def test_prev_and_next_on_every_page_and_walking_back(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    seed(engine, workspace.id, "events", _names(120))
    url: str | None = "/events"
    forward = []
    rels = []
    last = None
    while url is not None:
        last = client.get(url, headers=auth(workspace.key))
        forward.append([e["name"] for e in last.json()["events"]])
        rels.append(set(links(last)))
        url = links(last).get("next")
    assert rels == [{"next"}, {"prev", "next"}, {"prev"}]
    backward = []
    response = last
    while True:
        assert response is not None
        backward.append([e["name"] for e in response.json()["events"]])
        prev = links(response).get("prev")
        if prev is None:
            break
        assert prev.startswith("/events?cursor=")
        response = client.get(prev, headers=auth(workspace.key))
    assert backward == list(reversed(forward))


def test_order_is_case_sensitive_code_point_order_including_unicode(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    special = ["Zeta", "alpha", "Alpha", "ALPHA", "éclair", "Éclair", "eclair", "日本", "😀",
               "a b", "a", "ab", "B", "_x", "~", "Ω", "ß", "ss", "Z", "z"]  # fmt: skip
    names = special + [f"n{i:02d}" for i in range(45)]
    seed(engine, workspace.id, "events", names)
    pages = walk(client, workspace.key, "/events", "events")
    got = [n for page in pages for n in page]
    assert got == sorted(names)  # Python compares str by code point
    assert got.index("Alpha") < got.index("Zeta") < got.index("alpha") < got.index("Éclair")
    listed = client.get("/events/list", headers=auth(workspace.key)).json()["events"]
    assert listed == sorted(names)


def test_cursors_survive_inserts_between_pages(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    seed(engine, workspace.id, "events", [f"b{i:02d}" for i in range(60)])
    first = client.get("/events", headers=auth(workspace.key))
    seed(engine, workspace.id, "events", ["a-new", "b00x", "zz-new"])
    second = client.get(links(first)["next"], headers=auth(workspace.key))
    names = [e["name"] for e in second.json()["events"]]
    assert names[0] == "b50" and names[-1] == "zz-new"  # b00x sorts before the boundary


def test_braze_skip_cursors_are_accepted(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    seed(engine, workspace.id, "events", _names(70))
    start = client.get("/events?cursor=c2tpcDow", headers=auth(workspace.key))
    assert start.status_code == 200
    assert [e["name"] for e in start.json()["events"]] == sorted(_names(70))[:50]
    skip = base64.b64encode(b"skip:50").decode()
    second = client.get(f"/events?cursor={skip}", headers=auth(workspace.key))
    assert [e["name"] for e in second.json()["events"]] == sorted(_names(70))[50:]
    assert set(links(second)) == {"prev"}
    beyond = base64.b64encode(b"skip:500").decode()
    empty = client.get(f"/events?cursor={beyond}", headers=auth(workspace.key))
    assert empty.json()["events"] == []
    back = client.get(links(empty)["prev"], headers=auth(workspace.key))
    assert [e["name"] for e in back.json()["events"]] == sorted(_names(70))[20:]


@pytest.mark.parametrize(
    "bad", ["!!", "nA", "bm90LWEtY3Vyc29y", "c2tpcDo", "%20", base64.b64encode(b"skip:-1").decode()]
)
def test_bad_cursor_is_a_400_saying_so(client: TestClient, workspace: Workspace, bad: str) -> None:
    for path in ("/events", "/custom_attributes", "/heron/v1/events"):
        response = client.get(f"{path}?cursor={bad}", headers=auth(workspace.key))
        assert response.status_code == 400, (path, bad)
        assert response.json() == {
            "message": "cursor is not valid: use a cursor from this endpoint's Link header"
        }


def test_event_items_and_statuses(client: TestClient, engine: Engine, workspace: Workspace) -> None:
    seed(
        engine,
        workspace.id,
        "events",
        ["described"],
        description="Watched a trailer",
        tags='["Tag One", "Tag Two"]',
        included_in_analytics_report=True,
    )
    seed(engine, workspace.id, "events", ["blocked"], status=BLOCKLISTED)
    seed(engine, workspace.id, "events", ["trashed"], status=TRASHED)
    seed(engine, workspace.id, "events", ["purging"], status=PURGING)
    seed(engine, workspace.id, "events", ["purged"], status=PURGED)
    body = client.get("/events", headers=auth(workspace.key)).json()
    assert body == {
        "message": "success",
        "events": [
            {
                "name": "blocked",
                "description": "",
                "included_in_analytics_report": False,
                "status": "Blocklisted",
                "tag_names": [],
            },
            {
                "name": "described",
                "description": "Watched a trailer",
                "included_in_analytics_report": True,
                "status": "Active",
                "tag_names": ["Tag One", "Tag Two"],
            },
            {
                "name": "trashed",
                "description": "",
                "included_in_analytics_report": False,
                "status": "Trashed",
                "tag_names": [],
            },
        ],
    }
    names = client.get("/events/list", headers=auth(workspace.key)).json()
    assert names == {"message": "success", "events": ["described"]}


def test_tracked_events_and_attributes_are_listed(client: TestClient, workspace: Workspace) -> None:
    response = track(
        client,
        workspace.key,
        {
            "attributes": [
                {"external_id": "u", "tier": "gold", "visits": 3, "tags": ["a", "b"], "vip": True}
            ],
            "events": [event("played"), event("Paused")],
            "purchases": [purchase("sku-2"), purchase("sku-1")],
        },
    )
    assert response.status_code == 201, response.text
    events = client.get("/events", headers=auth(workspace.key)).json()["events"]
    assert [e["name"] for e in events] == ["Paused", "played"]
    attributes = client.get("/custom_attributes", headers=auth(workspace.key)).json()
    assert attributes == {
        "message": "success",
        "custom_attributes": [
            {"name": n, "description": "", "data_type": t, "array_length": length,
             "status": "Active", "tag_names": []}
            for n, t, length in [("tags", "Array", 25), ("tier", "String", None),
                                 ("vip", "Boolean", None), ("visits", "Number", None)]
        ],
    }  # fmt: skip
    products = client.get("/purchases/product_list", headers=auth(workspace.key)).json()
    assert products == {"products": ["sku-1", "sku-2"], "message": "success"}


@pytest.mark.parametrize("count", [0, 50, 51, 101])
def test_custom_attributes_page_like_events(
    client: TestClient, engine: Engine, workspace: Workspace, count: int
) -> None:
    names = [f"attr_{i:03d}" for i in range(count)]
    seed(engine, workspace.id, "custom_attributes", names)
    first = client.get("/custom_attributes", headers=auth(workspace.key))
    assert ("link" in first.headers) == (count > 50)
    pages = walk(client, workspace.key, "/custom_attributes", "custom_attributes")
    assert [n for page in pages for n in page] == names


def test_events_list_pages_of_250(client: TestClient, engine: Engine, workspace: Workspace) -> None:
    names = [f"e{i:04d}" for i in range(251)]
    seed(engine, workspace.id, "events", names)

    def page(query: str) -> list[str]:
        response = client.get(f"/events/list{query}", headers=auth(workspace.key))
        assert response.status_code == 200, response.text
        result: list[str] = response.json()["events"]
        return result

    assert page("") == names[:250]
    assert page("?page=0") == names[:250]
    assert page("?page=1") == names[250:]
    assert page("?page=01") == names[250:]
    assert page("?page=2") == []
    assert page("?page=999999999999999999999999999999") == []


def test_product_list_pages_of_100(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    names = [f"sku{i:03d}" for i in range(101)]
    seed(engine, workspace.id, "products", names)
    seed(engine, workspace.id, "products", ["blocked-sku"], status=BLOCKLISTED)
    first = client.get("/purchases/product_list", headers=auth(workspace.key)).json()
    assert first == {"products": names[:100], "message": "success"}
    second = client.get("/purchases/product_list?page=1", headers=auth(workspace.key)).json()
    assert second["products"] == names[100:]
    third = client.get("/purchases/product_list?page=2", headers=auth(workspace.key)).json()
    assert third["products"] == []


@pytest.mark.parametrize("bad", ["-1", "1.5", "abc", "", "%201", "1e3", "+1", "٣"])
def test_bad_page_is_a_400_naming_the_parameter(
    client: TestClient, workspace: Workspace, bad: str
) -> None:
    for path in ("/events/list", "/purchases/product_list"):
        response = client.get(f"{path}?page={bad}", headers=auth(workspace.key))
        assert response.status_code == 400, (path, bad)
        assert response.json()["message"].startswith("'page' must be a non-negative integer")


def test_exports_are_isolated_between_workspaces(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    other = make_workspace(engine, "other")
    seed(engine, workspace.id, "events", ["mine"])
    seed(engine, other.id, "events", ["theirs"])
    seed(engine, workspace.id, "custom_attributes", ["my_attr"])
    seed(engine, workspace.id, "products", ["my_sku"])
    for key, expected in ((workspace.key, "mine"), (other.key, "theirs")):
        events = client.get("/events", headers=auth(key)).json()["events"]
        assert [e["name"] for e in events] == [expected]
        assert client.get("/events/list", headers=auth(key)).json()["events"] == [expected]
    assert (
        client.get("/custom_attributes", headers=auth(other.key)).json()["custom_attributes"] == []
    )
    assert client.get("/purchases/product_list", headers=auth(other.key)).json()["products"] == []


@pytest.mark.parametrize(
    ("path", "permission"),
    [
        ("/events", "events.get"),
        ("/events/list", "events.list"),
        ("/custom_attributes", "custom_attributes.get"),
        ("/purchases/product_list", "purchases.product_list"),
    ],
)
def test_exports_need_their_permission(
    client: TestClient, engine: Engine, workspace: Workspace, path: str, permission: str
) -> None:
    without, _ = key_admin.create_key(
        engine, workspace.id, "no", ["users.track", "heron.catalog.manage"]
    )
    response = client.get(path, headers=auth(without))
    assert (response.status_code, response.json()) == (403, {"message": "Access Denied"})
    only, _ = key_admin.create_key(engine, workspace.id, "only", [permission])
    assert client.get(path, headers=auth(only)).status_code == 200
    assert client.get(path).status_code == 401
