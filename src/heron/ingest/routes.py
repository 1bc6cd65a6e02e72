"""`POST /users/track`: validate each object, store the valid ones durably, answer like Braze."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from heron.catalog import drop_blocklisted
from heron.http.auth import authenticate
from heron.http.body import json_object, read_body
from heron.http.errors import UNAVAILABLE_MESSAGE, BrazeError, bad_request
from heron.ingest.attributes import validate_attributes
from heron.ingest.batch import TrackBatch, TrackOutcome
from heron.ingest.events import validate_event, validate_purchase
from heron.ingest.idempotency import HEADER, REUSED_MESSAGE, key_from_header
from heron.ingest.records import ObjectError
from heron.ingest.writer import StorageUnavailable

MAX_OBJECTS_PER_ARRAY = 75
JSON = "application/json"
ARRAYS: tuple[Literal["attributes", "events", "purchases"], ...] = (
    "attributes",
    "events",
    "purchases",
)


def _arrays(body: dict[str, Any]) -> dict[str, list[Any]]:
    """The arrays a request sent (null = not sent), after Braze's fatal checks."""
    sent: dict[str, list[Any]] = {}
    for name in ARRAYS:
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, list):
            raise bad_request(f"'{name}' must be an array of objects")
        if len(value) > MAX_OBJECTS_PER_ARRAY:
            raise bad_request(
                "Max Input Length Exceeded",
                [f"'{name}' has {len(value)} objects; at most {MAX_OBJECTS_PER_ARRAY} are allowed"],
            )
        sent[name] = value
    if not sent:
        raise bad_request("Request must include 'attributes', 'events' or 'purchases'")
    return sent


def _app_ids(*arrays: list[Any] | None) -> set[str]:
    """Every string `app_id` the objects mention (to refresh the app directory if needed)."""
    found: set[str] = set()
    for objects in arrays:
        for obj in objects or ():
            if isinstance(obj, dict):
                app_id = obj.get("app_id")
                if isinstance(app_id, str):
                    found.add(app_id)
    return found


async def users_track(request: Request) -> Response:
    """Braze's `/users/track`: 201 after commit, with counts and non-fatal per-object errors."""
    principal = await authenticate(request, "users.track")
    raw = await read_body(request)
    sent = _arrays(json_object(raw))
    idempotency = key_from_header(request.headers.get(HEADER), raw)
    now_ms = int(time.time() * 1000)
    apps = await request.app.state.apps.for_workspace(
        principal.workspace_id, _app_ids(sent.get("events"), sent.get("purchases"))
    )
    batch = TrackBatch(principal.workspace_id, principal.workspace_time_zone, now_ms)
    errors: list[ObjectError] = []
    validators: dict[str, Callable[[object], Any]] = {
        "attributes": lambda obj: validate_attributes(
            obj, now_ms, max_array_length=request.app.state.settings.max_array_length
        ),
        "events": lambda obj: validate_event(obj, now_ms, apps),
        "purchases": lambda obj: validate_purchase(obj, now_ms, apps),
    }
    for name, objects in sent.items():
        validate = validators[name]
        target: list[Any] = getattr(batch, name)
        for index, obj in enumerate(objects):
            result = validate(obj)
            if isinstance(result, str):
                errors.append(ObjectError(result, name, index))  # type: ignore[arg-type]
            else:
                target.append((index, result))
    errors.extend(await drop_blocklisted(request, batch))  # not stored, reported
    queued = {name: len(getattr(batch, name)) for name in sent}

    def render(outcome: TrackOutcome) -> bytes:
        """The 201 answer for this request once the writer has refused what it refused."""
        # Not a closure over `batch`: the batch holds this function, and that cycle would keep
        # every record of every request alive until the cyclic GC found it (long GC pauses).
        return msgspec.json.encode(_answer(queued, errors, outcome.refused))

    if not batch.size():
        return Response(render(TrackOutcome()), status_code=201, media_type=JSON)
    batch.idempotency = idempotency
    batch.render = render
    try:
        outcome = await request.app.state.writer.submit(batch)
    except StorageUnavailable:
        raise BrazeError(503, UNAVAILABLE_MESSAGE) from None
    if outcome.key_reused:
        raise BrazeError(409, REUSED_MESSAGE)
    answer = outcome.replayed if outcome.replayed is not None else render(outcome)
    return Response(answer, status_code=201, media_type=JSON)


def _answer(
    queued: dict[str, int],
    errors: list[ObjectError],
    refused: list[ObjectError],
) -> dict[str, Any]:
    """Braze's success body: counts of the arrays sent and every object-level error.

    `queued`: for each array the request sent, how many of its objects went to the writer.
    """
    body: dict[str, Any] = {"message": "success"}
    for name in ARRAYS:
        if name in queued:
            stored = queued[name] - sum(1 for e in refused if e.input_array == name)
            body[f"{name}_processed"] = stored
    if errors or refused:
        every = sorted(errors + refused, key=lambda e: (ARRAYS.index(e.input_array), e.index))
        body["errors"] = [
            {"type": e.type, "input_array": e.input_array, "index": e.index} for e in every
        ]
    return body


routes = [Route("/users/track", users_track, methods=["POST"])]
