"""`GET /purchases/quantity_series` and `/purchases/revenue_series` end to end."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from conftest import Workspace, auth, make_workspace

T = "2026-11-20T10:00:00Z"


def purchase(
    product: str, price: float, quantity: int = 1, time: str = T, **extra: Any
) -> dict[str, Any]:
    """A purchase object for user `u1`."""
    return {
        "external_id": "u1",
        "product_id": product,
        "currency": "USD",
        "price": price,
        "quantity": quantity,
        "time": time,
        **extra,
    }


def track(client: TestClient, key: str, purchases: list[dict[str, Any]]) -> None:
    """Store purchases through `/users/track`, asserting every one was taken."""
    response = client.post(
        "/users/track", content=json.dumps({"purchases": purchases}), headers=auth(key)
    )
    assert response.status_code == 201, response.text
    assert response.json()["purchases_processed"] == len(purchases), response.text


def get(client: TestClient, key: str, kind: str, **query: Any) -> list[Any]:
    """GET a purchase series; assert 200 and its shape; return (time, value) pairs."""
    response = client.get(f"/purchases/{kind}_series", params=query, headers=auth(key))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["message"] == "success"
    field = "purchase_quantity" if kind == "quantity" else "revenue"
    assert all(set(point) == {"time", field} for point in body["data"])
    return [(point["time"], point[field]) for point in body["data"]]


@pytest.fixture
def stocked(client: TestClient, engine: Engine, workspace: Workspace) -> Workspace:
    """A workspace with purchases of two products, with and without app_id."""
    track(
        client,
        workspace.key,
        [
            purchase("tea", 0.1, 3),
            purchase("tea", 0.2, 1, app_id=workspace.app_id),
            purchase("cake", 5, 2, time="2026-11-20T11:15:00Z", app_id=workspace.app_id),
            purchase("cake", -5, 1, time="2026-11-20T11:20:00Z"),  # a refund
            purchase("cake", 1.5, 4, time="2026-11-18T00:00:00Z"),
        ],
    )
    return workspace


def test_quantity_per_day_and_per_hour(client: TestClient, stocked: Workspace) -> None:
    key = stocked.key
    assert get(client, key, "quantity", length=3, ending_at="2026-11-20") == [
        ("2026-11-18", 4),
        ("2026-11-19", 0),
        ("2026-11-20", 7),
    ]
    assert get(client, key, "quantity", length=2, unit="hour", ending_at="2026-11-20T11:59Z") == [
        ("2026-11-20T10:00:00Z", 4),
        ("2026-11-20T11:00:00Z", 3),
    ]


def test_revenue_is_price_times_quantity_without_float_noise(
    client: TestClient, stocked: Workspace
) -> None:
    key = stocked.key
    assert get(client, key, "revenue", length=3, ending_at="2026-11-20") == [
        ("2026-11-18", 6.0),
        ("2026-11-19", 0.0),
        ("2026-11-20", 0.5 + 10 - 5),
    ]
    hours = get(client, key, "revenue", length=2, unit="hour", ending_at="2026-11-20T11:00Z")
    assert hours == [("2026-11-20T10:00:00Z", 0.5), ("2026-11-20T11:00:00Z", 5.0)]
    raw = client.get(
        "/purchases/revenue_series",
        params={"length": 1, "unit": "hour", "ending_at": T, "product": "tea"},
        headers=auth(key),
    )
    assert raw.text.endswith('"revenue":0.5}]}')  # 0.1 * 3 + 0.2 is 0.5000000000000001 in floats


def test_product_and_app_filters(client: TestClient, stocked: Workspace) -> None:
    key = stocked.key
    query = {"length": 1, "ending_at": "2026-11-20"}
    assert get(client, key, "quantity", **query, product="tea") == [("2026-11-20", 4)]
    assert get(client, key, "quantity", **query, product="cake") == [("2026-11-20", 3)]
    assert get(client, key, "revenue", **query, product="cake") == [("2026-11-20", 5.0)]
    assert get(client, key, "quantity", **query, app_id=stocked.app_id) == [("2026-11-20", 3)]
    both = {**query, "app_id": stocked.app_id, "product": "cake"}
    assert get(client, key, "revenue", **both) == [("2026-11-20", 10.0)]
    assert get(client, key, "quantity", **query, product="") == [("2026-11-20", 7)]


@pytest.mark.parametrize("product", ["never-sold", "TEA", "x" * 256, "a\x00b"])
def test_unknown_product_answers_zeros(
    client: TestClient, stocked: Workspace, product: str
) -> None:
    for kind in ("quantity", "revenue"):
        values = [v for _, v in get(client, stocked.key, kind, length=5, product=product)]
        assert values == [0] * 5


@pytest.mark.parametrize("kind", ["quantity", "revenue"])
@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({}, "'length' is required"),
        ({"length": "0"}, "'length' must be an integer between 1 and 100"),
        ({"length": "1", "unit": "14"}, "'unit' must be 'day' or 'hour'"),
        ({"length": "1", "ending_at": "2026-11-20T25:00"}, "'ending_at' is not a valid"),
        ({"length": "1", "app_id": "nope"}, "'app_id' is not the identifier of an app"),
    ],
)
def test_parameter_errors_name_the_parameter(
    client: TestClient, workspace: Workspace, kind: str, query: dict[str, str], message: str
) -> None:
    response = client.get(f"/purchases/{kind}_series", params=query, headers=auth(workspace.key))
    assert response.status_code == 400
    assert response.json()["message"].startswith(message)


def test_purchase_days_follow_the_workspace_zone(client: TestClient, engine: Engine) -> None:
    ny = make_workspace(engine, "ny", "America/New_York")
    track(
        client,
        ny.key,
        [
            purchase("tea", 1, 1, time="2026-11-01T00:30:00-04:00"),
            purchase("tea", 1, 2, time="2026-11-01T23:30:00-05:00"),
            purchase("tea", 1, 4, time="2026-11-02T00:30:00-05:00"),
        ],
    )
    assert get(client, ny.key, "quantity", length=2, ending_at="2026-11-02") == [
        ("2026-11-01", 3),
        ("2026-11-02", 4),
    ]
