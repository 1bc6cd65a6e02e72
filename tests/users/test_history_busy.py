"""A history read whose runs never settle answers 503 (retry), not 500 (regression).

The reader re-reads a chunk when the index's runs changed under it (heron.users.history) and
gives up after a bounded number of attempts; that used to surface as an unhandled
RuntimeError, i.e. a 500.
"""

from __future__ import annotations

import itertools
import time

import pytest
from starlette.testclient import TestClient

from conftest import Workspace, auth
from heron.users import history


def _an_hour_ago() -> str:
    """An ISO time inside the export's recent-events window."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))


def test_export_answers_503_when_history_runs_keep_changing(
    client: TestClient, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs listed differently on every look: the export gives up cleanly with 503."""
    tracked = client.post(
        "/users/track",
        json={"events": [{"external_id": "u1", "name": "open", "time": _an_hour_ago()}]},
        headers=auth(workspace.key),
    )
    assert tracked.status_code == 201, tracked.text
    counter = itertools.count()
    monkeypatch.setattr(history, "run_ids", lambda _conn, _kind: [next(counter)])
    response = client.post(
        "/users/export/ids",
        json={"external_ids": ["u1"], "fields_to_export": ["external_id", "custom_events"]},
        headers=auth(workspace.key),
    )
    assert response.status_code == 503, response.text
    assert response.json() == {"message": "Service Unavailable"}
    assert response.headers["Retry-After"] == "1"
    monkeypatch.undo()
    settled = client.post(
        "/users/export/ids",
        json={"external_ids": ["u1"], "fields_to_export": ["external_id", "custom_events"]},
        headers=auth(workspace.key),
    )
    assert settled.status_code == 201, settled.text
    assert settled.json()["users"][0]["custom_events"][0]["name"] == "open"
