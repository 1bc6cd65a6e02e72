"""`/users/track` frees each request's records by reference counting, not by the cyclic GC.

A request's batch used to hold its own answer renderer, a closure over the batch: every record
of every request then waited for the cyclic garbage collector, whose collections grew long
enough (hundreds of ms under load) to dominate ingest's tail latency.
"""

from __future__ import annotations

import gc
import json

from starlette.testclient import TestClient

from conftest import Workspace, auth
from heron.ingest.batch import TrackBatch
from heron.ingest.records import AttributeRecord, EventRecord, PurchaseRecord

REQUESTS = 20
RECORDS = (TrackBatch, EventRecord, PurchaseRecord, AttributeRecord)


def _body(workspace: Workspace, n: int) -> dict[str, object]:
    """One request with an attributes object, two events and a purchase."""
    user = f"user-{n}"
    return {
        "attributes": [{"external_id": user, "plan": "pro"}],
        "events": [
            {
                "external_id": user,
                "app_id": workspace.app_id,
                "name": "played",
                "time": "2026-01-01T00:00:00Z",
                "properties": {"level": n, "tags": ["a", {"b": [1]}]},
            },
            {"external_id": user, "name": "bad", "time": "not a time"},
        ],
        "purchases": [
            {
                "external_id": user,
                "product_id": "sku",
                "currency": "USD",
                "price": 1.5,
                "time": "2026-01-01T00:00:00Z",
            }
        ],
    }


def _alive() -> int:
    """Batches and records the GC tracks right now."""
    return sum(1 for obj in gc.get_objects() if isinstance(obj, RECORDS))


def test_stored_requests_leave_no_records_for_the_cyclic_gc(
    client: TestClient, workspace: Workspace
) -> None:
    """With the cyclic GC off, 20 stored requests leave at most the writer's last group alive."""
    gc.collect()
    gc.disable()
    try:
        before = _alive()
        for n in range(REQUESTS):
            response = client.post(
                "/users/track", content=json.dumps(_body(workspace, n)), headers=auth(workspace.key)
            )
            assert response.status_code == 201, response.text
            assert response.json()["events_processed"] == 1
        left = _alive() - before
    finally:
        gc.enable()
    # the writer thread may still hold its last group (one request: batch + 3 records)
    assert left <= len(RECORDS), left
