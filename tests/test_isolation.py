"""Workspace isolation for every endpoint: no key reads or changes another workspace's data.

Workspace A tracks events, purchases and attributes; workspace B's key then calls every
authenticated operation with A's names and app id. Reads must show nothing of A (while A's own
key does see its data, so the check is not vacuous) and writes must leave A unchanged. A
meta-test fails when an operation in the OpenAPI document has no case here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

import heron.app  # noqa: F401  (registers every route's OpenAPI entry)
from conftest import Workspace, auth, make_workspace
from heron.openapi import document

DAY = "2026-01-05"
WHEN = f"{DAY}T10:00:00Z"
SERIES = {"length": "3", "ending_at": "2026-01-06T00:00:00Z"}


@dataclass
class Case:
    """One operation called with workspace B's key."""

    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    # checks B's response (and may use A's response to the same request, for reads)
    check: Callable[[Any, Any], None] = lambda b, a: None
    compare_with_a: bool = False


def _names(key: str) -> Callable[[Any], list[str]]:
    """Extract the names listed under `key`."""
    return lambda r: [item["name"] if isinstance(item, dict) else item for item in r.json()[key]]


def _lists_nothing_of_a(key: str, marker: str) -> Callable[[Any, Any], None]:
    """B's listing lacks A's name; A's listing has it."""

    def check(b: Any, a: Any) -> None:
        assert b.status_code == 200, b.text
        assert marker not in _names(key)(b)
        assert marker in _names(key)(a)

    return check


def _series_empty_for_b(value: str) -> Callable[[Any, Any], None]:
    """B's series is all zeros; A's has counts."""

    def check(b: Any, a: Any) -> None:
        assert b.status_code == 200, b.text
        assert [point[value] for point in b.json()["data"]] == [0] * 3
        assert a.status_code == 200, a.text
        assert any(point[value] for point in a.json()["data"])

    return check


def _status(code: int) -> Callable[[Any, Any], None]:
    """B's call answers with `code`."""

    def check(b: Any, _a: Any) -> None:
        assert b.status_code == code, b.text

    return check


def _identity_cases() -> list[Case]:
    """The user-identity endpoints with A's external_id: B changes nothing and finds nothing."""
    a_user = {"external_id": "a_user"}
    a_alias = {"alias_name": "a_alias", "alias_label": "a_label"}
    return [
        Case(
            "POST",
            "/users/alias/new",
            body={"user_aliases": [{**a_user, **a_alias}]},
            check=_status(201),
        ),
        Case(
            "POST",
            "/users/alias/update",
            body={
                "alias_updates": [
                    {"alias_label": "a_label", "old_alias_name": "a_alias", "new_alias_name": "b"}
                ]
            },
            check=_status(201),
        ),
        Case(
            "POST",
            "/users/identify",
            body={"aliases_to_identify": [{**a_user, "user_alias": a_alias}]},
            check=_status(201),
        ),
        Case(
            "POST",
            "/users/merge",
            body={"merge_updates": [{"identifier_to_merge": a_user, "identifier_to_keep": a_user}]},
            check=_status(202),
        ),
        Case(
            "POST",
            "/users/delete",
            body={"external_ids": ["a_user"]},
            check=lambda b, _a: (b.json()["deleted"] == 0) or pytest.fail(b.text),
        ),
        # after B's writes above: A's profile is intact, and B cannot read it
        Case(
            "POST",
            "/users/export/ids",
            body={"external_ids": ["a_user"]},
            check=lambda b, a: (
                (
                    b.json()["users"] == []
                    and a.json()["users"][0]["custom_attributes"] == {"a_attr": 1}
                    and a.json()["users"][0]["user_aliases"] == [a_alias]
                )
                or pytest.fail(f"B: {b.text} A: {a.text}")
            ),
            compare_with_a=True,
        ),
    ]


def _cases(a: Workspace, segment: str = "a-segment") -> list[Case]:
    """Every authenticated operation, with A's identifiers (`segment`: A's segment_id)."""
    cases = [
        Case("GET", "/events", check=_lists_nothing_of_a("events", "a_event"), compare_with_a=True),
        Case(
            "GET",
            "/events/list",
            check=_lists_nothing_of_a("events", "a_event"),
            compare_with_a=True,
        ),
        Case(
            "GET",
            "/custom_attributes",
            check=_lists_nothing_of_a("custom_attributes", "a_attr"),
            compare_with_a=True,
        ),
        Case(
            "GET",
            "/purchases/product_list",
            check=_lists_nothing_of_a("products", "a_product"),
            compare_with_a=True,
        ),
        Case(
            "GET",
            "/events/data_series",
            {"event": "a_event", **SERIES},
            check=_series_empty_for_b("count"),
            compare_with_a=True,
        ),
        Case(
            "GET",
            "/purchases/quantity_series",
            {"product": "a_product", **SERIES},
            check=_series_empty_for_b("purchase_quantity"),
            compare_with_a=True,
        ),
        Case(
            "GET",
            "/purchases/revenue_series",
            {"product": "a_product", **SERIES},
            check=_series_empty_for_b("revenue"),
            compare_with_a=True,
        ),
        Case(
            "GET",
            "/kpi/dau/data_series",
            SERIES,
            check=_series_empty_for_b("dau"),
            compare_with_a=True,
        ),
        Case(
            "GET",
            "/kpi/mau/data_series",
            SERIES,
            check=_series_empty_for_b("mau"),
            compare_with_a=True,
        ),
        Case(
            "GET",
            "/kpi/new_users/data_series",
            {"length": "3"},
            check=_series_empty_for_b("new_users"),
            compare_with_a=True,
        ),
        Case(
            "GET",
            "/heron/v1/workspace",
            check=lambda b, a: (b.json() != a.json()) or pytest.fail("same workspace"),
            compare_with_a=True,
        ),
        Case("PUT", "/heron/v1/workspace", body={"time_zone": "Asia/Tokyo"}, check=_status(200)),
        Case(
            "POST",
            "/users/track",
            body={
                "events": [
                    {
                        "external_id": "a_user",
                        "name": "a_event",
                        "time": WHEN,
                        "app_id": a.app_id,
                        "_update_existing_only": True,
                    }
                ]
            },
            check=lambda b, _a: (
                (b.status_code == 201 and b.json()["events_processed"] == 0) or pytest.fail(b.text)
            ),
        ),
        *_identity_cases(),
    ]
    # app_id of another workspace is refused by every analytics endpoint
    for path in (
        "/events/data_series",
        "/purchases/quantity_series",
        "/purchases/revenue_series",
        "/kpi/dau/data_series",
        "/kpi/mau/data_series",
        "/kpi/new_users/data_series",
    ):
        params = {"length": "3", "app_id": a.app_id}
        if path == "/events/data_series":
            params["event"] = "a_event"
        cases.append(Case("GET", path, params, check=_status(400)))
    for kind, name, listed in (
        ("events", "a_event", "events"),
        ("custom_attributes", "a_attr", "custom_attributes"),
        ("products", "a_product", "products"),
    ):
        base = f"/heron/v1/{kind}"
        cases += [
            Case("GET", base, check=_lists_nothing_of_a(listed, name), compare_with_a=True),
            Case("GET", f"{base}/details", {"name": name}, check=_status(404)),
            Case(
                "POST",
                f"{base}/update",
                body={"name": name, "description": "B was here"},
                check=_status(404),
            ),
            Case("POST", f"{base}/blocklist", body={"names": [name]}, check=_status(404)),
            Case("POST", f"{base}/unblock", body={"names": [name]}, check=_status(404)),
        ]
        if kind != "products":
            cases += [
                Case("POST", f"{base}/trash", body={"names": [name]}, check=_status(404)),
                Case("POST", f"{base}/restore", body={"names": [name]}, check=_status(404)),
            ]
    # campaigns: A's campaign id names nothing in B
    campaign = {"campaign_id": "a-campaign"}
    cases += [
        Case(
            "GET",
            "/campaigns/list",
            check=_lists_nothing_of_a("campaigns", "A campaign"),
            compare_with_a=True,
        ),
        Case("GET", "/campaigns/details", campaign, check=_status(404)),
        Case("GET", "/campaigns/data_series", {**campaign, **SERIES}, check=_status(404)),
        Case(
            "GET",
            "/heron/v1/campaigns",
            check=_lists_nothing_of_a("campaigns", "A campaign"),
            compare_with_a=True,
        ),
        Case("GET", "/heron/v1/campaigns/details", campaign, check=_status(404)),
        Case(
            "POST",
            "/heron/v1/campaigns/update",
            body={**campaign, "name": "B was here"},
            check=_status(404),
        ),
        Case("POST", "/heron/v1/campaigns/archive", body=campaign, check=_status(404)),
        Case("POST", "/heron/v1/campaigns/unarchive", body=campaign, check=_status(404)),
    ]
    cases += _segment_cases(segment)
    # last: creating the same name in B makes B's own entry and never touches A's
    cases += [
        Case(
            "POST",
            f"/heron/v1/{kind}",
            body={"name": name, "description": "B's own"},
            check=_status(201),
        )
        for kind, name in (
            ("events", "a_event"),
            ("custom_attributes", "a_attr"),
            ("products", "a_product"),
        )
    ]
    cases.append(
        Case(
            "POST",
            "/heron/v1/campaigns",
            body={"id": "a-campaign", "name": "B's own"},
            check=_status(201),
        )
    )
    return cases


def _segment_cases(segment: str) -> list[Case]:
    """Segments: B neither sees A's segment nor changes it (A's segment is tracked)."""
    ids = {"segment_id": segment}
    listed = _lists_nothing_of_a("segments", "a_segment")
    return [
        Case("GET", "/segments/list", check=listed, compare_with_a=True),
        Case("GET", "/segments/details", ids, check=_status(404)),
        Case("GET", "/segments/data_series", {**ids, "length": "3"}, check=_status(404)),
        Case(
            "GET",
            "/events/data_series",
            {"event": "a_event", "length": "3", **ids},
            check=_status(404),
        ),
        Case("GET", "/purchases/quantity_series", {"length": "3", **ids}, check=_status(404)),
        Case("GET", "/purchases/revenue_series", {"length": "3", **ids}, check=_status(404)),
        Case("GET", "/heron/v1/segments", check=listed, compare_with_a=True),
        Case("GET", "/heron/v1/segments/details", ids, check=_status(404)),
        Case("POST", "/heron/v1/segments/update", body={**ids, "name": "B"}, check=_status(404)),
        Case("POST", "/heron/v1/segments/archive", body=ids, check=_status(404)),
        Case("POST", "/heron/v1/segments/unarchive", body=ids, check=_status(404)),
        Case(
            "POST",
            "/heron/v1/segments/tracking",
            body={**ids, "enabled": False},
            check=_status(404),
        ),
        Case("POST", "/heron/v1/segments/delete", body=ids, check=_status(404)),
        Case(
            "POST",
            "/heron/v1/segments",
            body={
                "name": "a_segment",
                "filter": {"custom_event": "a_event", "op": "count_greater_than", "value": 0},
            },
            check=_status(201),
        ),
    ]


def _a_segment(client: TestClient, a: Workspace) -> str:
    """Create A's tracked segment; return its id."""
    body = {
        "name": "a_segment",
        "filter": {"custom_event": "a_event", "op": "count_greater_than", "value": 0},
    }
    created = client.post("/heron/v1/segments", content=json.dumps(body), headers=auth(a.key))
    assert created.status_code == 201, created.text
    segment = str(created.json()["segment"]["segment_id"])
    tracked = client.post(
        "/heron/v1/segments/tracking",
        content=json.dumps({"segment_id": segment, "enabled": True}),
        headers=auth(a.key),
    )
    assert tracked.status_code == 200, tracked.text
    return segment


@pytest.fixture
def two_workspaces(
    client: TestClient, engine: Engine, workspace: Workspace
) -> tuple[Workspace, Workspace]:
    """Workspace A with tracked data, and an empty workspace B."""
    body = {
        "attributes": [{"external_id": "a_user", "a_attr": 1}],
        "events": [
            {"external_id": "a_user", "name": "a_event", "time": WHEN, "app_id": workspace.app_id}
        ],
        "purchases": [
            {
                "external_id": "a_user",
                "product_id": "a_product",
                "currency": "USD",
                "price": 2.5,
                "time": WHEN,
                "app_id": workspace.app_id,
            }
        ],
    }
    response = client.post("/users/track", content=json.dumps(body), headers=auth(workspace.key))
    assert response.json() == {
        "message": "success",
        "attributes_processed": 1,
        "events_processed": 1,
        "purchases_processed": 1,
    }
    campaign = {"id": "a-campaign", "name": "A campaign", "tags": ["a"]}
    created = client.post(
        "/heron/v1/campaigns", content=json.dumps(campaign), headers=auth(workspace.key)
    )
    assert created.status_code == 201, created.text
    alias_body = {
        "user_aliases": [
            {"external_id": "a_user", "alias_name": "a_alias", "alias_label": "a_label"}
        ]
    }
    response = client.post("/users/alias/new", json=alias_body, headers=auth(workspace.key))
    assert response.status_code == 201, response.text
    return workspace, make_workspace(engine, "b")


def _call(client: TestClient, key: str, case: Case) -> Any:
    """Send one case with a key."""
    return client.request(
        case.method,
        case.path,
        params=case.params,
        content=None if case.body is None else json.dumps(case.body),
        headers=auth(key),
    )


def test_no_workspace_sees_or_changes_another(
    client: TestClient, two_workspaces: tuple[Workspace, Workspace]
) -> None:
    a, b = two_workspaces
    snapshot_before = _call(
        client, a.key, Case("GET", "/heron/v1/events/details", {"name": "a_event"})
    ).json()
    a_campaign = Case("GET", "/campaigns/details", {"campaign_id": "a-campaign"})
    campaign_before = _call(client, a.key, a_campaign).json()
    segment = _a_segment(client, a)
    failures = []
    for case in _cases(a, segment):
        b_response = _call(client, b.key, case)
        a_response = _call(client, a.key, case) if case.compare_with_a else None
        try:
            case.check(b_response, a_response)
        except (AssertionError, pytest.fail.Exception) as exc:
            failures.append(f"{case.method} {case.path} {case.params}: {exc}")
    assert not failures, "\n".join(failures)
    # A is untouched: same catalog entry, still Active, and its zone is still UTC
    after = _call(client, a.key, Case("GET", "/heron/v1/events/details", {"name": "a_event"}))
    assert after.json() == snapshot_before
    assert _call(client, a.key, a_campaign).json() == campaign_before
    zone = _call(client, a.key, Case("GET", "/heron/v1/workspace")).json()
    assert "UTC" in json.dumps(zone)
    mine = _call(client, a.key, Case("GET", "/heron/v1/segments/details", {"segment_id": segment}))
    assert mine.status_code == 200, mine.text
    assert mine.json()["segment"]["name"] == "a_segment"
    assert mine.json()["segment"]["analytics_tracking_enabled"] is True


def test_every_authenticated_operation_has_an_isolation_case(workspace: Workspace) -> None:
    documented = {
        (method.upper(), path)
        for path, operations in document()["paths"].items()
        for method, operation in operations.items()
        if operation.get("x-heron-permission")
    }
    covered = {(case.method, case.path) for case in _cases(workspace)}
    assert documented - covered == set(), "operations without an isolation case"
