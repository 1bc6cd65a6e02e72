"""`Idempotency-Key` on `/users/track`: a repeated request is answered, not stored again."""

from __future__ import annotations

import concurrent.futures
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from conftest import Workspace, auth, make_workspace
from heron.ingest.idempotency import (
    KEEP_MS,
    REUSED_MESSAGE,
    IdempotencyKey,
    IdempotencyLedger,
    forget_expired_sql,
)
from heron.store.driver import raw_cursor
from heron.store.schema import events, track_idempotency
from serverproc import ServerProcess, heron_cli

WHEN = "2026-01-05T10:00:00Z"


def _body(*names: str, bad: bool = False) -> dict[str, Any]:
    """Events for user u1 (and one invalid object when asked)."""
    objects: list[dict[str, Any]] = [
        {"external_id": "u1", "name": name, "time": WHEN} for name in names
    ]
    if bad:
        objects.append({"external_id": "u1", "time": WHEN})  # no name
    return {"events": objects}


def _post(client: TestClient, ws: Workspace, body: Any, key: str | None) -> Any:
    """POST /users/track with an optional Idempotency-Key."""
    headers = auth(ws.key)
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post("/users/track", content=json.dumps(body), headers=headers)


def _stored(engine: Engine) -> int:
    """Raw event rows."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(events)).scalar_one())


def test_repeat_is_answered_from_the_ledger_and_stores_nothing(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    """Same key and body: the first answer again (errors included), rows stored once."""
    first = _post(client, workspace, _body("a", "b", bad=True), "batch-1")
    assert first.status_code == 201, first.text
    assert first.json()["events_processed"] == 2 and len(first.json()["errors"]) == 1
    again = _post(client, workspace, _body("a", "b", bad=True), "batch-1")
    assert again.status_code == 201
    assert again.content == first.content
    assert _stored(engine) == 2
    other = _post(client, workspace, _body("a", "b", bad=True), "batch-2")
    assert other.status_code == 201 and _stored(engine) == 4
    plain = _post(client, workspace, _body("a"), None)
    assert plain.status_code == 201 and _stored(engine) == 5


def test_same_key_with_another_body_is_refused(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    """A reused key with a different body is a 409 and writes nothing."""
    assert _post(client, workspace, _body("a"), "k").status_code == 201
    reused = _post(client, workspace, _body("b"), "k")
    assert reused.status_code == 409
    assert reused.json()["message"] == REUSED_MESSAGE
    assert _stored(engine) == 1


def test_keys_belong_to_their_workspace(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    """Another workspace's identical key is a different key."""
    other = make_workspace(engine, "other")
    assert _post(client, workspace, _body("a"), "k").status_code == 201
    assert _post(client, other, _body("a"), "k").status_code == 201
    assert _stored(engine) == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "naïve", "tab\there"])
def test_malformed_keys_are_a_400(client: TestClient, workspace: Workspace, key: str) -> None:
    """The header must be 1-255 printable ASCII characters."""
    response = client.post(
        "/users/track",
        content=json.dumps(_body("a")),
        headers={**auth(workspace.key), "Idempotency-Key": key.encode()},  # type: ignore[dict-item]
    )
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["message"]


def test_concurrent_repeats_store_once(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    """The same keyed request sent many times at once is stored once, all get its answer."""
    body = _body("a", "b", "c")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: _post(client, workspace, body, "same"), range(16)))
    assert {a.status_code for a in answers} == {201}
    assert len({a.content for a in answers}) == 1
    assert _stored(engine) == 3


def test_expired_keys_are_forgotten(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    """After a day a key is dropped by the writer's maintenance, and may store again."""
    with engine.begin() as conn:
        conn.execute(
            insert(track_idempotency).values(
                workspace_id=workspace.id,
                idempotency_key="old",
                digest="0" * 64,
                response=b"{}",
                created_at_ms=int(time.time() * 1000) - KEEP_MS - 1000,
            )
        )
        conn.execute(text(forget_expired_sql()), {"before": int(time.time() * 1000) - KEEP_MS})
    assert _post(client, workspace, _body("a"), "old").status_code == 201
    assert _stored(engine) == 1


class _CountingCursor:
    """A DB-API cursor that remembers the statements it ran."""

    def __init__(self, cur: Any) -> None:
        self.cur = cur
        self.statements: list[str] = []

    def execute(self, statement: str, params: Any = ()) -> Any:
        """Run and remember one statement."""
        self.statements.append(statement)
        return self.cur.execute(statement, params)

    def fetchall(self) -> Any:
        """The last statement's rows."""
        return self.cur.fetchall()


def test_a_group_looks_its_keys_up_in_one_query_per_workspace(
    engine: Engine, workspace: Workspace
) -> None:
    """`begin` reads every key of the group at once; `find` answers from that and the group's
    own staged keys, each workspace's keys apart."""
    other = make_workspace(engine, "other")
    with engine.begin() as conn:
        for ws, answer in ((workspace.id, b"mine"), (other.id, b"theirs")):
            conn.execute(
                insert(track_idempotency).values(
                    workspace_id=ws,
                    idempotency_key="k1",
                    digest="d" * 64,
                    response=answer,
                    created_at_ms=int(time.time() * 1000),
                )
            )
    ledger = IdempotencyLedger(engine.dialect.name == "postgresql")
    with engine.begin() as conn:
        cur = _CountingCursor(raw_cursor(conn))
        ledger.begin(cur, [(workspace.id, "k1"), (workspace.id, "k2"), (other.id, "k1")])
        lookups = [s for s in cur.statements if "track_idempotency" in s]
        assert len(lookups) == 2
        assert ledger.find(workspace.id, IdempotencyKey("k1", "x")) == ("d" * 64, b"mine")
        assert ledger.find(other.id, IdempotencyKey("k1", "x")) == ("d" * 64, b"theirs")
        assert ledger.find(workspace.id, IdempotencyKey("k2", "x")) is None
        ledger.stage(workspace.id, IdempotencyKey("k2", "e" * 64), b"new")
        assert ledger.find(workspace.id, IdempotencyKey("k2", "x")) == ("e" * 64, b"new")
        assert ledger.find(other.id, IdempotencyKey("k2", "x")) is None
        assert len([s for s in cur.statements if "track_idempotency" in s]) == 2


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_two_worker_processes_store_a_repeated_key_once(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    """Across worker processes (concurrent transactions on PostgreSQL) a key stores once."""
    key = heron_cli("keys", "create", "--name", "idem", "--database", database_url)
    body = json.dumps(_body(*(f"e{i}" for i in range(75))))
    with ServerProcess(database_url, tmp_path / "server.log", workers=2) as server:

        def send(_: int) -> httpx.Response:
            """One keyed request on its own connection."""
            with httpx.Client(base_url=server.base_url, timeout=30) as http:
                return http.post(
                    "/users/track",
                    content=body,
                    headers={
                        "Authorization": f"Bearer {key}",
                        "Content-Type": "application/json",
                        "Idempotency-Key": "import:0",
                    },
                )

        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(send, range(24)))
    assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
    assert len({a.content for a in answers}) == 1
    assert _stored(engine) == 75
