"""`GET /openapi.json`: a valid document listing every route, and the app conforms to it.

The conformance test runs schemathesis against the real app (lifespan and writer thread started
by the `client` fixture, fresh database per operation). schemathesis 4's own pytest loaders
(`from_fixture`) and its ASGI transport do not fit here: the first breaks on pytest 9, the second
starts its own process-wide lifespan that is never stopped. So the schema is loaded eagerly from
`openapi.document()` and requests go through a `requests` session whose adapter hands them to
the Starlette TestClient.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import Any

import pytest
import requests
import schemathesis
import urllib3
from hypothesis import HealthCheck, settings
from requests.adapters import HTTPAdapter
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err, Ok
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    missing_required_header,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from sqlalchemy.engine import Engine
from starlette.routing import Route
from starlette.testclient import TestClient

from conftest import Workspace, auth
from heron import openapi
from heron.admin import keys as key_admin
from heron.ingest import routes as ingest_routes
from heron.openapi import track
from heron.permissions import ALL_PERMISSIONS

BASE_URL = "http://testserver"


class InProcessAdapter(HTTPAdapter):
    """A `requests` transport that hands each request to a Starlette TestClient."""

    def __init__(self, client: TestClient) -> None:
        super().__init__()
        self.client = client

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        """Send through the TestClient and wrap its answer as a `requests` response."""
        body = request.body.encode() if isinstance(request.body, str) else request.body
        assert body is None or isinstance(body, bytes), (
            f"streamed bodies are not supported: {body!r}"
        )
        # bytes as they are: generated (negative) header values need not be ASCII
        headers = {
            name: value.encode() if isinstance(value, str) else value
            for name, value in request.headers.items()
        }
        answer = self.client.request(
            request.method or "GET", request.url or "/", headers=headers, content=body
        )
        raw = urllib3.HTTPResponse(
            body=io.BytesIO(answer.content),
            headers=urllib3.HTTPHeaderDict(answer.headers.multi_items()),
            status=answer.status_code,
            reason=answer.reason_phrase,
            version=11,
            preload_content=False,
            decode_content=False,
        )
        return self.build_response(request, raw)


def session_for(client: TestClient) -> requests.Session:
    """A `requests` session whose requests reach the app behind `client`."""
    session = requests.Session()
    session.mount(BASE_URL, InProcessAdapter(client))
    return session


def served_operations(routes: list[Any]) -> set[tuple[str, str]]:
    """(path, method) for every route the app serves (HEAD, added by Starlette, left out)."""
    found = set()
    for route in routes:
        assert isinstance(route, Route), f"route kind this test does not know: {route!r}"
        for method in route.methods or ():
            if method != "HEAD":
                path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)  # {id:int} -> {id}
                found.add((path, method.lower()))
    return found


def documented_operations(document: Mapping[str, Any]) -> set[tuple[str, str]]:
    """(path, method) for every operation in the document."""
    return {(path, method) for path, item in document["paths"].items() for method in item}


def secured_operations() -> list[tuple[str, str, str]]:
    """(path, method, permission) for every operation that needs an API key."""
    return [
        (path, method, operation["x-heron-permission"])
        for path, item in openapi.document()["paths"].items()
        for method, operation in item.items()
        if operation["security"]
    ]


# -- the document itself --------------------------------------------------------------------


def test_document_lists_every_route_and_nothing_else(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document == openapi.document()
    routes = client.app.routes  # type: ignore[attr-defined]
    assert documented_operations(document) == served_operations(routes), (
        "every route needs an entry in the OpenAPI document: see heron.openapi's docstring"
    )


def test_document_is_valid_openapi_3_0(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert re.fullmatch(r"3\.0\.\d+", document["openapi"])
    loaded = schemathesis.openapi.from_dict(document)
    loaded.validate()  # raises unless the document matches the OpenAPI 3.0 meta-schema
    results = list(loaded.get_all_operations())  # resolves every $ref
    assert [r.err() for r in results if isinstance(r, Err)] == []
    operations = {(r.ok().path, r.ok().method) for r in results if isinstance(r, Ok)}
    assert operations == documented_operations(document)


def test_operations_name_their_permission_and_security(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for path, item in document["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            permission = operation.get("x-heron-permission")
            if operation["security"]:
                assert operation["security"] == [{"bearerAuth": []}], where
                assert f"`{permission}`" in operation["description"], where
                assert {"401", "403"} <= set(operation["responses"]), where
            else:
                assert permission is None, where
    track_post = document["paths"]["/users/track"]["post"]
    assert track_post["x-heron-permission"] == "users.track"
    assert set(track_post["responses"]) == {"201", "400", "401", "403", "409", "413", "429", "503"}


def test_track_limits_match_the_server() -> None:
    assert track.MAX_OBJECTS_PER_ARRAY == ingest_routes.MAX_OBJECTS_PER_ARRAY
    assert track.ARRAYS == ingest_routes.ARRAYS


def test_registering_an_operation_twice_differently_is_refused() -> None:
    operation = openapi.document()["paths"]["/healthz"]["get"]
    openapi.register("/healthz", "get", operation, permission=None)  # identical: accepted
    with pytest.raises(ValueError, match="already documented"):
        openapi.register("/healthz", "get", {**operation, "summary": "x"}, permission=None)
    with pytest.raises(ValueError, match="unknown permission"):
        openapi.register("/x", "get", {"responses": {}}, permission="nope")
    assert "/x" not in openapi.document()["paths"]


@pytest.mark.parametrize(("path", "method", "permission"), secured_operations())
def test_secured_operations_answer_401_and_403_as_documented(
    client: TestClient,
    engine: Engine,
    workspace: Workspace,
    path: str,
    method: str,
    permission: str,
) -> None:
    url = re.sub(r"\{[^}]*\}", "x", path)
    anonymous = client.request(method, url)
    assert (anonymous.status_code, anonymous.json()) == (401, {"message": "Invalid API key"})
    assert client.request(method, url, headers=auth("not-a-key")).status_code == 401
    unrelated = next(p for p in ALL_PERMISSIONS if p != permission)
    other, _ = key_admin.create_key(engine, workspace.id, "other", [unrelated])
    forbidden = client.request(method, url, headers=auth(other))
    assert (forbidden.status_code, forbidden.json()) == (403, {"message": "Access Denied"})
    only, _ = key_admin.create_key(engine, workspace.id, "only", [permission])
    assert client.request(method, url, headers=auth(only)).status_code not in (401, 403)


# -- the app against its document (schemathesis) --------------------------------------------

# Every check that fits heron. Left out: `negative_data_rejection` (Braze answers 201 and lists
# an invalid attribute/event/purchase object in `errors`, so schema-invalid bodies are accepted
# by design), `ignored_auth` (its probes bypass the session and go to the network; the 401/403
# test above covers it), and checks about resources (`use_after_free`, ...), as nothing here
# creates addressable resources.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    positive_data_acceptance,
    missing_required_header,
    unsupported_method,
    allow_header_conformance,
]

# Positive and negative data; the coverage phase (deterministic boundary and wrong-type cases,
# ~900 for /users/track) and 100 random examples per operation keep the run near 15 s.
CONFIG = {
    "generation": {"mode": "all", "max-examples": 100},
    "phases": {
        "examples": {"enabled": False},
        "coverage": {"enabled": True},
        "fuzzing": {"enabled": True},
        "stateful": {"enabled": False},
    },
}

# Loaded at collection time (conftest has imported heron.app, so every route module has
# registered its operations; the first test checks the app serves this very document).
schema = schemathesis.openapi.from_dict(
    openapi.document(), config=schemathesis.Config.from_dict(CONFIG)
)


@schema.parametrize()
@settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_app_conforms_to_its_document(
    case: schemathesis.Case[Any], client: TestClient, workspace: Workspace
) -> None:
    # A generated `app_id` names no app, which analytics endpoints answer with a 400 by design:
    # schema-valid (positive) cases get the workspace's real app instead.
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    if positive and case.query and "app_id" in case.query:
        case.query["app_id"] = workspace.app_id
    # A segment filter's rules (which value each operator takes, known names) are more than
    # its schema says: schema-valid creations get a valid filter.
    if positive and case.path == "/heron/v1/segments" and isinstance(case.body, dict):
        case.body["filter"] = {"custom_event": "e", "op": "count_greater_than", "value": 0}
    case.call_and_validate(
        base_url=BASE_URL, session=session_for(client), headers=auth(workspace.key), checks=CHECKS
    )
