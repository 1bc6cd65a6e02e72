"""The client and the data tools against a real `heron serve` (SQLite or PostgreSQL).

`ENDPOINTS` lists a call for every method of the client; `test_every_endpoint_is_reachable`
runs the ones whose path the server's `/openapi.json` has (the others are skipped until their
branch lands), so a new heron endpoint gets its real-server check without a new test. The
coverage tests run all of them through both clients while recording the requests, and fail when
an operation of `/openapi.json` is requested by no client method.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest
from click.testing import CliRunner
from heronserver import Heron, running_heron

from heron.cli import main
from heron_client import (
    APIError,
    AsyncBraze,
    AuthenticationError,
    BadRequestError,
    Braze,
    CatalogKind,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
)

DAY = "2026-01-10T12:00:00Z"
ENDING = "2026-01-11"


@pytest.fixture(scope="module")
def heron(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Heron]:
    """One real server for the module, on a fresh database of the backend under test."""
    with running_heron(tmp_path_factory.mktemp("heron")) as server:
        yield server


def client(heron: Heron) -> Braze:
    """A sync client with the all-permissions key."""
    return Braze(heron.key, heron.url)


def test_track_and_read_everything_back(heron: Heron) -> None:
    """Batched track, then every export, list and series reads it back (with pagination)."""
    events = [
        {"external_id": f"user{i % 7}", "app_id": heron.app_id, "name": f"ev_{i % 120:03d}",
         "time": DAY} for i in range(240)
    ]  # fmt: skip
    events.insert(100, {"external_id": "user1", "time": DAY})  # no name: refused
    purchases = [
        {"external_id": "user1", "product_id": f"prod_{i}", "currency": "USD", "price": 2.5,
         "quantity": 2, "time": DAY} for i in range(3)
    ]  # fmt: skip
    attributes = [{"external_id": "user1", f"attr_{i}": i} for i in range(60)]
    with client(heron) as braze:
        report = braze.track_all(attributes=attributes, events=events, purchases=purchases)
        assert report.events_processed == 240 and report.purchases_processed == 3
        assert report.attributes_processed == 60 and report.requests == 4
        assert [(e.input_array, e.index) for e in report.errors] == [("events", 100)]

        first = braze.events()
        assert len(first.items) == 50 and first.next_cursor is not None
        second = braze.events(first.next_cursor)
        assert second.items[0]["name"] == "ev_050"
        names = [e["name"] for e in braze.iter_events()]
        assert names == [f"ev_{i:03d}" for i in range(120)]
        assert list(braze.iter_event_names()) == names
        assert braze.events_list(page=1) == []
        attrs = [a["name"] for a in braze.iter_custom_attributes()]
        assert attrs == sorted(f"attr_{i}" for i in range(60))
        assert braze.custom_attributes().items[0]["data_type"] == "Number"
        assert list(braze.iter_products()) == ["prod_0", "prod_1", "prod_2"]
        assert braze.product_list() == ["prod_0", "prod_1", "prod_2"]

        series = braze.events_data_series("ev_007", 3, ending_at=ENDING)
        assert [p["count"] for p in series] == [0, 2, 0]
        hourly = braze.events_data_series(
            "ev_007", 2, unit="hour", ending_at="2026-01-10T13:00:00Z", app_id=heron.app_id
        )
        assert [p["count"] for p in hourly] == [2, 0]
        quantity = braze.purchases_quantity_series(3, ending_at=ENDING, product="prod_1")
        assert [p["purchase_quantity"] for p in quantity] == [0, 2, 0]
        revenue = braze.purchases_revenue_series(3, ending_at=ENDING)
        assert [p["revenue"] for p in revenue] == [0.0, 15.0, 0.0]
        dau = braze.kpi_dau_series(3, ending_at=ENDING)
        assert [p["dau"] for p in dau] == [0, 7, 0]
        assert braze.kpi_mau_series(1, ending_at=ENDING)[0]["mau"] == 7
        new = braze.kpi_new_users_series(2, app_id=heron.app_id, ending_at=ENDING)
        assert [p["new_users"] for p in new] == [7, 0]


def test_management_api(heron: Heron) -> None:
    """heron's catalog management and workspace settings through the client."""
    with client(heron) as braze:
        created = braze.catalog_create(
            "events", "mgmt_signup", description="Signed up", tag_names=["funnel"]
        )
        assert created["status"] == "Active" and created["tag_names"] == ["funnel"]
        with pytest.raises(ConflictError):
            braze.catalog_create("events", "mgmt_signup")
        updated = braze.catalog_update("events", "mgmt_signup", included_in_analytics_report=True)
        assert updated["included_in_analytics_report"] is True
        assert braze.catalog_details("events", "mgmt_signup")["description"] == "Signed up"
        blocked = braze.catalog_blocklist("events", ["mgmt_signup"])
        assert [i["status"] for i in blocked] == ["Blocklisted"]
        listed = [i["name"] for i in braze.iter_catalog("events", status="Blocklisted")]
        assert listed == ["mgmt_signup"]
        assert braze.catalog_list("events", status="Blocklisted").next_url is None
        assert braze.catalog_unblock("events", ["mgmt_signup"])[0]["status"] == "Active"
        with pytest.raises(NotFoundError) as caught:
            braze.catalog_details("products", "nope")
        assert "nope" in caught.value.message
        braze.catalog_create("custom_attributes", "mgmt_attr", data_type="Number")
        assert braze.catalog_details("custom_attributes", "mgmt_attr")["data_type"] == "Number"
        assert braze.workspace()["workspace"]["time_zone"] == "UTC"
        changed = braze.update_workspace(time_zone="UTC")
        assert changed["workspace"]["name"] == "default"


def test_fatal_errors_from_heron(heron: Heron) -> None:
    """heron's 400, 401 and 403 arrive as the matching exceptions, with Braze's message."""
    with client(heron) as braze, pytest.raises(BadRequestError) as caught:
        braze.events_data_series("x", 101)
    assert caught.value.status == 400 and "length" in caught.value.message
    with Braze("not-a-key", heron.url) as bad, pytest.raises(AuthenticationError):
        bad.events_list()
    with Braze(heron.events_list_key, heron.url) as limited:
        assert isinstance(limited.events_list(), list)
        with pytest.raises(PermissionDeniedError) as denied:
            limited.iter_events().__next__()
    assert denied.value.status == 403


def test_async_client_against_heron(heron: Heron) -> None:
    """AsyncBraze: concurrent batched track, Link pagination, series."""
    events = [{"external_id": f"a{i}", "name": "async_ev", "time": DAY} for i in range(500)]

    async def scenario() -> tuple[Any, list[str], list[Any]]:
        async with AsyncBraze(heron.key, heron.url) as braze:
            report = await braze.track_all(events=events, concurrency=4)
            names = [e["name"] async for e in braze.iter_events()]
            series = await braze.events_data_series("async_ev", 3, ending_at=ENDING)
            return report, names, series

    report, names, series = asyncio.run(scenario())
    assert report.ok and report.events_processed == 500 and report.requests == 7
    assert "async_ev" in names
    assert [p["count"] for p in series] == [0, 500, 0]


def test_import_export_series_commands(heron: Heron, tmp_path: Path) -> None:
    """`heron import` an NDJSON file, then `heron series` and `heron export` read it back."""
    source = tmp_path / "events.ndjson"
    source.write_text(
        "".join(
            json.dumps({"external_id": f"c{i}", "name": "cli_ev", "time": DAY}) + "\n"
            for i in range(1000)
        )
    )
    runner = CliRunner()
    common = ["--url", heron.url, "--api-key", heron.key]
    result = runner.invoke(main, ["import", str(source), *common])
    assert result.exit_code == 0, result.output
    assert "processed 1000 events" in result.output
    result = runner.invoke(
        main, ["series", "cli_ev", "--length", "3", "--ending-at", ENDING, *common]
    )
    assert result.exit_code == 0, result.output
    assert "2026-01-10" in result.stdout and "1,000" in result.stdout
    result = runner.invoke(main, ["export", "events", "--format", "csv", *common])
    assert result.exit_code == 0, result.output
    assert "cli_ev,,False,Active,[]" in result.stdout


Endpoint = Callable[[Any], Any]  # a Braze or an AsyncBraze (whose methods return awaitables)
UA = {"alias_name": "x", "alias_label": "y"}
COUNTRY_FR = {"standard_attribute": "country", "op": "equals", "value": "FR"}
ENDPOINTS: dict[str, tuple[str, Endpoint]] = {
    "track": ("/users/track", lambda b: b.track(attributes=[{"external_id": "r1", "a": 1}])),
    "alias_new": ("/users/alias/new", lambda b: b.alias_new([{**UA}])),
    "alias_update": (
        "/users/alias/update",
        lambda b: b.alias_update(
            [{"alias_label": "y", "old_alias_name": "x", "new_alias_name": "z"}]
        ),
    ),
    "identify": (
        "/users/identify",
        lambda b: b.identify([{"external_id": "r1", "user_alias": {**UA}}]),
    ),
    "merge": (
        "/users/merge",
        lambda b: b.merge(
            [
                {
                    "identifier_to_merge": {"external_id": "r2"},
                    "identifier_to_keep": {"external_id": "r1"},
                }
            ]
        ),
    ),
    "delete": ("/users/delete", lambda b: b.delete(external_ids=["nobody"])),
    "export_ids": (
        "/users/export/ids",
        lambda b: b.export_ids(external_ids=["r1"], fields_to_export=["external_id"]),
    ),
    "events": ("/events", lambda b: b.events()),
    "custom_attributes": ("/custom_attributes", lambda b: b.custom_attributes()),
    "events_list": ("/events/list", lambda b: b.events_list()),
    "product_list": ("/purchases/product_list", lambda b: b.product_list()),
    "events_data_series": ("/events/data_series", lambda b: b.events_data_series("e", 1)),
    "purchases_quantity_series": (
        "/purchases/quantity_series",
        lambda b: b.purchases_quantity_series(1),
    ),
    "purchases_revenue_series": (
        "/purchases/revenue_series",
        lambda b: b.purchases_revenue_series(1),
    ),
    "kpi_dau_series": ("/kpi/dau/data_series", lambda b: b.kpi_dau_series(1)),
    "kpi_mau_series": ("/kpi/mau/data_series", lambda b: b.kpi_mau_series(1)),
    "kpi_new_users_series": ("/kpi/new_users/data_series", lambda b: b.kpi_new_users_series(1)),
    "campaigns_list": ("/campaigns/list", lambda b: b.campaigns_list()),
    "campaign_details": ("/campaigns/details", lambda b: b.campaign_details("none")),
    "campaign_data_series": (
        "/campaigns/data_series",
        lambda b: b.campaign_data_series("none", 1),
    ),
    "segments_list": ("/segments/list", lambda b: b.segments_list()),
    "segment_details": ("/segments/details", lambda b: b.segment_details("none")),
    "segment_data_series": ("/segments/data_series", lambda b: b.segment_data_series("none", 1)),
    "catalog_list": ("/heron/v1/products", lambda b: b.catalog_list("products")),
    "catalog_details": ("/heron/v1/events/details", lambda b: b.catalog_details("events", "e")),
    "catalog_create": ("/heron/v1/products", lambda b: b.catalog_create("products", "reach")),
    "catalog_update": (
        "/heron/v1/products/update",
        lambda b: b.catalog_update("products", "reach"),
    ),
    "catalog_blocklist": (
        "/heron/v1/products/blocklist",
        lambda b: b.catalog_blocklist("products", ["reach"]),
    ),
    "catalog_unblock": (
        "/heron/v1/products/unblock",
        lambda b: b.catalog_unblock("products", ["reach"]),
    ),
    "catalog_trash": ("/heron/v1/events/trash", lambda b: b.catalog_trash("events", ["nope"])),
    "catalog_restore": (
        "/heron/v1/events/restore",
        lambda b: b.catalog_restore("events", ["nope"]),
    ),
    "workspace": ("/heron/v1/workspace", lambda b: b.workspace()),
    "update_workspace": ("/heron/v1/workspace", lambda b: b.update_workspace(time_zone="UTC")),
    "segment_definitions": ("/heron/v1/segments", lambda b: b.segment_definitions()),
    "segment_definition": (
        "/heron/v1/segments/details",
        lambda b: b.segment_definition("none"),
    ),
    "segment_create": (
        "/heron/v1/segments",
        lambda b: b.segment_create({"name": "reach", "filter": COUNTRY_FR}),
    ),
    "segment_update": (
        "/heron/v1/segments/update",
        lambda b: b.segment_update("none", {"name": "x"}),
    ),
    "segment_archive": ("/heron/v1/segments/archive", lambda b: b.segment_archive("none")),
    "segment_unarchive": ("/heron/v1/segments/unarchive", lambda b: b.segment_unarchive("none")),
    "segment_delete": ("/heron/v1/segments/delete", lambda b: b.segment_delete("none")),
    "segment_tracking": (
        "/heron/v1/segments/tracking",
        lambda b: b.segment_tracking("none", True),
    ),
    "campaign_definitions": ("/heron/v1/campaigns", lambda b: b.campaign_definitions()),
    "campaign_definition": (
        "/heron/v1/campaigns/details",
        lambda b: b.campaign_definition("none"),
    ),
    "campaign_create": ("/heron/v1/campaigns", lambda b: b.campaign_create({"name": "reach"})),
    "campaign_update": (
        "/heron/v1/campaigns/update",
        lambda b: b.campaign_update("none", {"name": "x"}),
    ),
    "campaign_archive": ("/heron/v1/campaigns/archive", lambda b: b.campaign_archive("none")),
    "campaign_unarchive": (
        "/heron/v1/campaigns/unarchive",
        lambda b: b.campaign_unarchive("none"),
    ),
    "health": ("/healthz", lambda b: b.health()),
    "openapi": ("/openapi.json", lambda b: b.openapi()),
}


def test_endpoint_table_covers_every_client_method() -> None:
    """Every public endpoint method of the client has an entry in ENDPOINTS."""
    helpers = {"close", "send", "track_raw", "track_all", "settings"}
    methods = {
        name
        for name in dir(Braze)
        if not name.startswith("_") and not name.startswith("iter_") and name not in helpers
    }
    assert methods == set(ENDPOINTS)


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
def test_every_endpoint_is_reachable(heron: Heron, name: str) -> None:
    """The call reaches its route: an answer, or a Braze error from the route (not a 404 URL)."""
    path, call = ENDPOINTS[name]
    if path not in heron.paths:
        pytest.skip(f"{path} is not served by this heron yet")
    with client(heron) as braze:
        try:
            answer = call(braze)
        except APIError as exc:
            assert exc.status in (400, 404, 409), exc
            assert exc.message != "Invalid URL", exc
        else:
            assert answer is not None


Operation = tuple[str, str]  # (HTTP method, path)
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


class RecordingTransport(httpx.BaseTransport):
    """httpx's own transport, noting the method and path of every request."""

    def __init__(self, sent: set[Operation]) -> None:
        self.inner = httpx.HTTPTransport()
        self.sent = sent

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Note the request, then send it."""
        self.sent.add((request.method, request.url.path))
        return self.inner.handle_request(request)

    def close(self) -> None:
        """Close the inner transport."""
        self.inner.close()


class AsyncRecordingTransport(httpx.AsyncBaseTransport):
    """httpx's own async transport, noting the method and path of every request."""

    def __init__(self, sent: set[Operation]) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.sent = sent

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Note the request, then send it."""
        self.sent.add((request.method, request.url.path))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self.inner.aclose()


def missing_operations(document: dict[str, Any], sent: set[Operation]) -> set[Operation]:
    """The document's operations that no sent request matches (path templates match a segment)."""
    missing: set[Operation] = set()
    for path, item in document["paths"].items():
        pattern = re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)))
        for method in set(item) & HTTP_METHODS:
            verb = method.upper()
            if not any(m == verb and pattern.fullmatch(p) for m, p in sent):
                missing.add((verb, path))
    return missing


def test_missing_operations_spots_an_endpoint_without_a_client_method() -> None:
    """The comparison itself: a new operation (or a new method on a path) is reported."""
    document = {"paths": {"/a": {"get": {}, "post": {}}, "/b/{id}": {"get": {}, "parameters": []}}}
    assert missing_operations(document, {("GET", "/a"), ("GET", "/b/7")}) == {("POST", "/a")}
    everything = {("GET", "/a"), ("POST", "/a"), ("GET", "/b/{id}")}
    assert missing_operations(document, {("GET", "/a/x"), ("GET", "/b/7/c")}) == everything


def catalog_calls(kind: CatalogKind) -> list[Endpoint]:
    """Every catalog method on one catalog (`ENDPOINTS` calls each on one catalog only)."""
    return [
        lambda b: b.catalog_list(kind),
        lambda b: b.catalog_details(kind, "e"),
        lambda b: b.catalog_create(kind, "cover", data_type="String"),
        lambda b: b.catalog_update(kind, "cover", description="d"),
        lambda b: b.catalog_blocklist(kind, ["cover"]),
        lambda b: b.catalog_unblock(kind, ["cover"]),
        lambda b: b.catalog_trash(kind, ["nope"]),
        lambda b: b.catalog_restore(kind, ["nope"]),
    ]


EVERY_CALL: list[Endpoint] = [call for _, call in ENDPOINTS.values()] + [
    call for kind in get_args(CatalogKind) for call in catalog_calls(kind)
]


def test_sync_client_requests_every_documented_operation(heron: Heron) -> None:
    """Every (method, path) of heron's `/openapi.json` is requested by some `Braze` method."""
    sent: set[Operation] = set()
    with Braze(heron.key, heron.url, transport=RecordingTransport(sent)) as braze:
        document = braze.openapi()
        for call in EVERY_CALL:
            try:
                call(braze)
            except APIError as exc:  # an answer from the route (or a catalog without the route)
                assert exc.status in (400, 404, 409), exc
    missing = missing_operations(document, sent)
    assert not missing, f"heron serves these, no client method calls them: {sorted(missing)}"


def test_async_client_requests_every_documented_operation(heron: Heron) -> None:
    """The same for `AsyncBraze`, whose public methods are those of `Braze`."""
    public = {n for n in dir(Braze) if not n.startswith("_")}
    assert public == {n for n in dir(AsyncBraze) if not n.startswith("_")}
    sent: set[Operation] = set()

    async def scenario() -> dict[str, Any]:
        transport = AsyncRecordingTransport(sent)
        async with AsyncBraze(heron.key, heron.url, transport=transport) as braze:
            for call in EVERY_CALL:
                answer = call(braze)
                assert inspect.isawaitable(answer)
                try:
                    await answer
                except APIError as exc:
                    assert exc.status in (400, 404, 409), exc
            return await braze.openapi()

    document = asyncio.run(scenario())
    missing = missing_operations(document, sent)
    assert not missing, f"heron serves these, no client method calls them: {sorted(missing)}"
