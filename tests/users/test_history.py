"""`heron.users.history`: one user's events and purchases, read through the per-user indexes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from conftest import Workspace, auth
from heron.store.schema import users
from heron.users import history

T0 = "2026-03-01T10:00:00Z"
T1 = "2026-03-02T10:00:00Z"
MS0 = 1_772_359_200_000  # T0 in epoch ms
MS1 = MS0 + 86_400_000


def _track(client: TestClient, ws: Workspace, body: dict[str, Any]) -> None:
    """POST /users/track and require success."""
    response = client.post("/users/track", json=body, headers=auth(ws.key))
    assert response.status_code == 201, response.text


def _uid(engine: Engine, external_id: str) -> int:
    """A stored user's id by external id."""
    with engine.connect() as conn:
        return int(
            conn.execute(select(users.c.id).where(users.c.external_id == external_id)).one()[0]
        )


def test_summaries_and_times_per_user(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    """Counts, first and last times per (user, item); windows and filters apply."""
    _track(
        client,
        workspace,
        {
            "events": [
                {"external_id": "a", "name": "open", "time": T0},
                {"external_id": "a", "name": "open", "time": T1},
                {"external_id": "a", "name": "buy", "time": T1},
                {"external_id": "b", "name": "open", "time": T1},
            ],
            "purchases": [
                {
                    "external_id": "a",
                    "product_id": "p",
                    "currency": "USD",
                    "price": 2.5,
                    "quantity": 3,
                    "time": T0,
                },
            ],
        },
    )
    a, b = _uid(engine, "a"), _uid(engine, "b")
    with engine.connect() as conn:
        found = {
            (s.user_id, s.name): (s.count, s.first_ms, s.last_ms)
            for s in history.event_summaries(conn, workspace.id, [a, b])
        }
        assert found == {
            (a, "open"): (2, MS0, MS1),
            (a, "buy"): (1, MS1, MS1),
            (b, "open"): (1, MS1, MS1),
        }
        recent = history.event_summaries(conn, workspace.id, [a], since_ms=MS1)
        assert {(s.name, s.count) for s in recent} == {("open", 1), ("buy", 1)}
        assert history.event_summaries(conn, workspace.id, [a], until_ms=MS0) == []
        times = history.event_times(conn, workspace.id, [b, a])
        assert [(u, t) for u, _e, t in times] == [(a, MS0), (a, MS1), (a, MS1), (b, MS1)]
        (bought,) = history.purchase_summaries(conn, workspace.id, [a, b])
        assert (bought.user_id, bought.name, bought.count) == (a, "p", 1)
        assert history.purchase_times(conn, workspace.id, [a]) == [
            (a, bought.product_id, MS0, 2.5, 3, "USD")
        ]
        # another workspace's ids never match
        assert history.event_summaries(conn, workspace.id + 1000, [a, b]) == []
