"""Concurrent `/users/identify` and `/users/track` on the same users: nothing lost, no duplicate.

Several alias-only users are tracked continuously, by alias and by the external_id they are about
to receive, while each is identified mid-stream. Depending on the interleaving the identify gives
the alias profile the external_id, or merges it into the profile that tracking by external_id
created first. Either way, afterwards: exactly one profile per external_id, holding the alias,
every acknowledged event and every acknowledged attribute increment. Run in-process (one writer)
and against a real `heron serve --workers 2`, where an identify in one process must make the
other process's cached alias -> user id stale (heron.users.generation).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient
from users_helpers import WHEN, alias

from conftest import Workspace, auth
from heron.store.engine import make_engine
from heron.store.schema import events, user_aliases, users
from serverproc import ServerProcess, heron_cli

USERS = 6
ROUNDS = 24
Send = Callable[[str, dict[str, Any]], tuple[int, Any]]


@dataclass
class Acked:
    """What the server acknowledged, per user index."""

    events: dict[int, int] = field(default_factory=dict)
    anon_n: dict[int, int] = field(default_factory=dict)
    known_n: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, book: dict[int, int], user: int, n: int) -> None:
        """Count n acknowledged items for a user."""
        with self.lock:
            book[user] = book.get(user, 0) + n


def _track_body(i: int) -> dict[str, Any]:
    """Two attribute increments and two events for user i, by alias and by external_id."""
    by_alias = {"user_alias": alias(f"dev{i}")}
    by_id = {"external_id": f"user{i}"}
    return {
        "attributes": [
            {**by_alias, "anon_n": {"inc": 1}},
            {**by_id, "known_n": {"inc": 1}},
        ],
        "events": [
            {**by_alias, "name": "anon_event", "time": WHEN},
            {**by_id, "name": "known_event", "time": WHEN},
        ],
    }


def _run(send: Send, clients: int = 3) -> Acked:
    """Create the alias users, then track and identify them concurrently."""
    acked = Acked()
    for i in range(USERS):
        status, body = send(
            "/users/alias/new",
            {"user_aliases": [{"alias_name": f"dev{i}", "alias_label": "device"}]},
        )
        assert status == 201, body

    def tracker(seed: int) -> None:
        """Send track requests for random users until the rounds are done."""
        rng = random.Random(seed)
        for _ in range(ROUNDS):
            i = rng.randrange(USERS)
            status, body = send("/users/track", _track_body(i))
            if status != 201 or "errors" in body:
                acked.failures.append(f"track user{i}: {status} {body}")
                continue
            acked.add(acked.events, i, body["events_processed"])
            acked.add(acked.anon_n, i, 1)
            acked.add(acked.known_n, i, 1)

    def identifier() -> None:
        """Identify every user once, at random moments while tracking goes on."""
        rng = random.Random(7)
        for i in rng.sample(range(USERS), USERS):
            time.sleep(rng.uniform(0.0, 0.05))
            entry = {"external_id": f"user{i}", "user_alias": alias(f"dev{i}")}
            status, body = send("/users/identify", {"aliases_to_identify": [entry]})
            if status != 201:
                acked.failures.append(f"identify user{i}: {status} {body}")

    threads = [threading.Thread(target=tracker, args=(seed,)) for seed in range(clients)]
    threads.append(threading.Thread(target=identifier))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    # after every identify: one more request per user through each identifier
    for i in range(USERS):
        status, body = send("/users/track", _track_body(i))
        assert status == 201 and "errors" not in body, body
        acked.add(acked.events, i, body["events_processed"])
        acked.add(acked.anon_n, i, 1)
        acked.add(acked.known_n, i, 1)
    return acked


def _audit(engine: Engine, workspace_id: int, acked: Acked) -> list[str]:
    """Everything acknowledged is on the one profile of each external_id; nothing else exists."""
    problems = list(acked.failures)
    with engine.connect() as conn:
        total_users = conn.execute(
            select(func.count()).select_from(users).where(users.c.workspace_id == workspace_id)
        ).scalar_one()
        if total_users != USERS:
            problems.append(f"{total_users} profiles, expected {USERS}")
        stored_events = conn.execute(
            select(func.count()).select_from(events).where(events.c.workspace_id == workspace_id)
        ).scalar_one()
        if stored_events != sum(acked.events.values()):
            problems.append(f"{stored_events} events stored, {sum(acked.events.values())} acked")
        for i in range(USERS):
            rows = conn.execute(
                select(users.c.id, users.c.custom).where(
                    users.c.workspace_id == workspace_id, users.c.external_id == f"user{i}"
                )
            ).all()
            if len(rows) != 1:
                problems.append(f"user{i}: {len(rows)} profiles")
                continue
            uid, custom = int(rows[0].id), msgspec.json.decode(rows[0].custom)
            owner = conn.execute(
                select(user_aliases.c.user_id).where(user_aliases.c.alias_name == f"dev{i}")
            ).scalar()
            if owner != uid:
                problems.append(f"user{i}: alias dev{i} belongs to {owner}, not {uid}")
            mine = conn.execute(
                select(func.count()).select_from(events).where(events.c.user_id == uid)
            ).scalar_one()
            if mine != acked.events.get(i, 0):
                problems.append(f"user{i}: {mine} events, {acked.events.get(i, 0)} acked")
            for name, book in (("anon_n", acked.anon_n), ("known_n", acked.known_n)):
                if custom.get(name) != book.get(i):
                    problems.append(f"user{i}: {name} = {custom.get(name)}, acked {book.get(i)}")
    return problems


def test_concurrent_identify_and_track_in_process(
    client: TestClient, engine: Engine, workspace: Workspace
) -> None:
    def send(path: str, body: dict[str, Any]) -> tuple[int, Any]:
        """One request through the in-process app."""
        response = client.post(path, json=body, headers=auth(workspace.key))
        return response.status_code, response.json()

    acked = _run(send)
    assert _audit(engine, workspace.id, acked) == []


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_concurrent_identify_and_track_on_two_workers(database_url: str, tmp_path: Path) -> None:
    key = heron_cli("keys", "create", "--name", "identity", "--database", database_url)
    server = ServerProcess(database_url, tmp_path / "server.log", workers=2)

    def send(path: str, body: dict[str, Any]) -> tuple[int, Any]:
        """One request over a new connection (so that both workers get requests)."""
        response = httpx.post(f"{server.base_url}{path}", json=body, headers=auth(key), timeout=60)
        return response.status_code, response.json()

    try:
        server.start()
        acked = _run(send, clients=4)
    finally:
        server.kill()
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            workspace_id = conn.execute(select(func.min(users.c.workspace_id))).scalar_one()
        problems = _audit(engine, int(workspace_id), acked)
    finally:
        engine.dispose()
    assert problems == [], "\n".join([*problems, server.log_tail()])
