"""`GET /campaigns/list`: pages of 100, archived campaigns, order, `last_edit.time[gt]`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from campaign_helpers import create, definition, get, post
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from conftest import Workspace, auth
from heron.campaigns import store
from heron.campaigns.definition import load_definition

T0 = int(datetime(2026, 1, 5, 10, 0, tzinfo=UTC).timestamp() * 1000)


def _seed(engine: Engine, ws: Workspace, count: int) -> list[str]:
    """`count` campaigns created one second apart from T0; their ids, oldest first."""
    ids = []
    for n in range(count):
        body = {"name": f"Campaign {n:03d}", "tags": [f"t{n % 3}"]}
        found = store.create(engine, ws.id, load_definition(body), T0 + n * 1000, f"c{n:03d}")
        ids.append(found.api_id)
    return ids


def _ids(client: TestClient, ws: Workspace, **params: str) -> list[str]:
    """The ids one list call answers with."""
    response = get(client, ws, "/campaigns/list", **params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["campaigns"]]


def test_pages_of_100_oldest_first(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    ids = _seed(engine, workspace, 205)
    assert _ids(client, workspace) == ids[:100]
    assert _ids(client, workspace, page="0") == ids[:100]
    assert _ids(client, workspace, page="1") == ids[100:200]
    assert _ids(client, workspace, page="2") == ids[200:]
    assert _ids(client, workspace, page="3") == []
    assert _ids(client, workspace, page="99999999999999999999") == []
    assert _ids(client, workspace, sort_direction="desc") == ids[::-1][:100]
    assert _ids(client, workspace, sort_direction="asc", page="2") == ids[200:]
    first = get(client, workspace, "/campaigns/list").json()["campaigns"][0]
    assert first == {
        "id": "c000",
        "last_edited": "2026-01-05T10:00:00+00:00",
        "name": "Campaign 000",
        "is_api_campaign": False,
        "tags": ["t0"],
    }


def test_archived_only_on_request(client: TestClient, workspace: Workspace) -> None:
    create(client, workspace, definition(id="kept", is_api_campaign=True))
    create(client, workspace, definition(id="gone"))
    create(client, workspace, definition(id="stopped", enabled=False, draft=True))
    archived = post(client, workspace.key, "/heron/v1/campaigns/archive", {"campaign_id": "gone"})
    assert archived.status_code == 200 and archived.json()["campaign"]["archived"] is True
    assert _ids(client, workspace) == ["kept", "stopped"]  # paused/stopped are listed
    assert _ids(client, workspace, include_archived="true") == ["kept", "gone", "stopped"]
    assert _ids(client, workspace, include_archived="false") == ["kept", "stopped"]
    items = get(client, workspace, "/campaigns/list").json()["campaigns"]
    assert [i["is_api_campaign"] for i in items] == [True, False]
    details = get(client, workspace, "/campaigns/details", campaign_id="gone").json()
    assert details["archived"] is True
    post(client, workspace.key, "/heron/v1/campaigns/unarchive", {"campaign_id": "gone"})
    assert _ids(client, workspace) == ["kept", "gone", "stopped"]
    managed = get(client, workspace, "/heron/v1/campaigns").json()["campaigns"]
    assert [m["id"] for m in managed] == ["kept", "gone", "stopped"]


def test_last_edit_time_filter(client: TestClient, engine: Engine, workspace: Workspace) -> None:
    ids = _seed(engine, workspace, 3)  # 10:00:00, 10:00:01, 10:00:02 on 2026-01-05
    assert _ids(client, workspace, **{"last_edit.time[gt]": "2026-01-05T10:00:00"}) == ids[1:]
    assert _ids(client, workspace, **{"last_edit.time[gt]": "2026-01-05T10:00:01Z"}) == ids[2:]
    assert _ids(client, workspace, **{"last_edit.time[gt]": "2026-01-05"}) == ids
    assert _ids(client, workspace, **{"last_edit.time[gt]": "2026-01-06"}) == []
    # an edit moves the campaign past the filter
    store.edit(engine, workspace.id, "c000", load_definition({"name": "Renamed"}), T0 + 86_400_000)
    assert _ids(client, workspace, **{"last_edit.time[gt]": "2026-01-06"}) == ["c000"]
    with engine.connect() as conn:
        edited = store.get(conn, workspace.id, "c000")
    assert edited is not None and edited.created_at_ms == T0
    # an edit in the same millisecond still moves updated_at forward
    again = store.edit(engine, workspace.id, "c000", load_definition({"name": "R2"}), T0)
    assert again.updated_at_ms == T0 + 86_400_001


def test_bad_parameters(client: TestClient, workspace: Workspace) -> None:
    for params, message in (
        ({"page": "-1"}, "'page' must be a non-negative integer"),
        ({"page": "x"}, "'page' must be a non-negative integer"),
        ({"include_archived": "yes"}, "'include_archived' must be true or false"),
        ({"sort_direction": "up"}, "'sort_direction' must be 'asc' or 'desc'"),
    ):
        response = get(client, workspace, "/campaigns/list", **params)
        assert (response.status_code, response.json()) == (400, {"message": message}), params
    response = get(client, workspace, "/campaigns/list", **{"last_edit.time[gt]": "yesterday"})
    assert response.status_code == 400
    assert response.json()["message"].startswith("'last_edit.time[gt]' must be")


@pytest.mark.parametrize("campaign_id", ["\x00x", "x" * 65, "has space", "é"])
def test_ids_that_cannot_exist_are_unknown(
    client: TestClient, workspace: Workspace, campaign_id: str
) -> None:
    """An id no campaign can have (NUL, too long, other characters) is a 404, never a 500."""
    for path in ("/campaigns/details", "/heron/v1/campaigns/details"):
        response = client.get(
            path, params={"campaign_id": campaign_id}, headers=auth(workspace.key)
        )
        assert response.status_code == 404, response.text
    series = client.get(
        "/campaigns/data_series",
        params={"campaign_id": campaign_id, "length": "3"},
        headers=auth(workspace.key),
    )
    assert series.status_code == 404, series.text
