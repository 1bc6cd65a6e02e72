"""Crash test of the ingest path: SIGKILL `heron serve` under concurrent load, then audit storage.

Design principle "acknowledge only what is durable": every object of a request answered 201
must be stored exactly once, every request is all-or-nothing (group commit shares transactions
between requests but must never half-write one), nothing appears that was never sent, and the
hourly rollups, written in the same transaction, agree with the raw rows. Then the server must
restart on the crashed database and accept requests.

Every object carries its request id (`req`) and its position (`seq`): events and purchases in
their properties, attribute objects as custom attributes of a per-request user, and each
request adds 1 to a shared counter attribute (`crash_requests` of user `tally`), which must end
equal to the number of requests found stored.

With `--workers 2` two writer processes contend for the database: on SQLite they take turns on
the write lock, on PostgreSQL they commit concurrently, as two API nodes would.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Connection, make_url

from conftest import BACKEND, auth
from heron.analytics.buckets import hour_bucket
from heron.analytics.kpi import fold_job, rebuild_kpis
from heron.store.engine import make_engine
from heron.store.schema import (
    ALL_APPS,
    ALL_PRODUCTS,
    apps,
    custom_events,
    event_rollups_hourly,
    event_rollups_recent,
    events,
    kpi_daily,
    products,
    purchase_rollups_hourly,
    purchase_rollups_recent,
    purchases,
    users,
    workspaces,
)
from serverproc import ServerProcess, heron_cli

CLIENTS = 8  # concurrent client threads (the machine has 2 cores shared with others)
MIN_ACKS_BEFORE_KILL = 40  # the kill must come after real load, not during warm-up
LOAD_SECONDS = (1.0, 2.0)  # the kill lands at a random moment in this window (after MIN_ACKS)
MAX_WARMUP_SECONDS = 15.0
REQUEST_TIMEOUT = httpx.Timeout(10.0, connect=5.0)

EVENT_SEQS = range(6)  # 0-2: event named after the request, 3-5: shared names
PURCHASE_SEQS = range(3)  # 0-1: product named after the request, 2: a shared product
ATTRIBUTE_SEQS = range(2)  # one new user per seq; plus the `tally` increment
SHARED_USERS = 40
TALLY = "tally"


def event_name(rid: int, seq: int) -> str:
    """Name of event `seq` of request `rid`: half unique to the request, half shared."""
    return f"crash-{rid}" if seq < 3 else f"shared-{(rid + seq) % 4}"


def product_id(rid: int, seq: int) -> str:
    """Product of purchase `seq` of request `rid`."""
    return f"p-{rid}" if seq < 2 else "shared-product"


def attribute_user(rid: int, seq: int) -> str:
    """The user created by attributes object `seq` of request `rid`."""
    return f"a{rid}-{seq}"


def track_body(rid: int, app_id: str) -> dict[str, Any]:
    """A `/users/track` body whose every object is marked with request id and position."""
    now = datetime.now(UTC).isoformat()
    user = f"u{rid % SHARED_USERS}"
    return {
        "attributes": [
            *(
                {"external_id": attribute_user(rid, seq), "crash_req": rid, "crash_seq": seq}
                for seq in ATTRIBUTE_SEQS
            ),
            {"external_id": TALLY, "crash_requests": {"inc": 1}},
        ],
        "events": [
            {
                "external_id": user,
                "name": event_name(rid, seq),
                "time": now,
                **({"app_id": app_id} if seq % 2 else {}),
                "properties": {"req": rid, "seq": seq, "user": user},
            }
            for seq in EVENT_SEQS
        ],
        "purchases": [
            {
                "external_id": user,
                "product_id": product_id(rid, seq),
                "currency": "USD",
                "price": 1.25,
                "quantity": seq + 1,
                "time": now,
                **({"app_id": app_id} if seq % 2 else {}),
                "properties": {"req": rid, "seq": seq, "user": user},
            }
            for seq in PURCHASE_SEQS
        ],
    }


EXPECTED_COUNTS = {
    "attributes_processed": len(ATTRIBUTE_SEQS) + 1,
    "events_processed": len(EVENT_SEQS),
    "purchases_processed": len(PURCHASE_SEQS),
}


@dataclass
class Sent:
    """One request as the client saw it: status None means no response (outcome unknown)."""

    rid: int
    status: int | None = None
    body: dict[str, Any] | None = None
    error: str | None = None
    finished: float = 0.0


@dataclass
class Load:
    """Client threads hammering `/users/track` until told to stop."""

    base_url: str
    key: str
    app_id: str
    stop: threading.Event = field(default_factory=threading.Event)
    sent: list[Sent] = field(default_factory=list)
    acks: int = 0
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self, clients: int) -> None:
        """Start the client threads."""
        for n in range(clients):
            thread = threading.Thread(target=self._client, name=f"crash-client-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def join(self, timeout: float) -> None:
        """Stop and wait for the clients; a stuck client fails the test."""
        self.stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        stuck = [t.name for t in self._threads if t.is_alive()]
        assert not stuck, f"client threads did not finish: {stuck}"

    def _client(self) -> None:
        """Send requests back to back; stop at the first transport error (the server died)."""
        headers = {**auth(self.key), "Content-Type": "application/json"}
        with httpx.Client(base_url=self.base_url, timeout=REQUEST_TIMEOUT) as client:
            while not self.stop.is_set():
                with self._lock:
                    sent = Sent(next(self._ids))
                    self.sent.append(sent)
                content = json.dumps(track_body(sent.rid, self.app_id))
                try:
                    response = client.post("/users/track", content=content, headers=headers)
                except httpx.HTTPError as exc:
                    sent.error = repr(exc)
                    sent.finished = time.monotonic()
                    return
                sent.finished = time.monotonic()
                sent.body = response.json() if response.status_code < 500 else None
                sent.status = response.status_code
                if sent.status == 201:
                    with self._lock:
                        self.acks += 1


@dataclass
class Stored:
    """What the database holds, grouped by request id."""

    events: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    purchases: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    attributes: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    tally: int = 0
    problems: list[str] = field(default_factory=list)

    def request_ids(self) -> set[int]:
        """Every request id with at least one stored object."""
        return set(self.events) | set(self.purchases) | set(self.attributes)


def read_stored(conn: Connection, app_key: int) -> Stored:
    """Collect every marked object, checking each row's own consistency on the way."""
    stored = Stored()
    external_ids: dict[int, str | None] = {
        uid: ext for uid, ext in conn.execute(select(users.c.id, users.c.external_id))
    }
    event_names: dict[int, str] = {
        eid: name for eid, name in conn.execute(select(custom_events.c.id, custom_events.c.name))
    }
    product_names: dict[int, str] = {
        pid: name for pid, name in conn.execute(select(products.c.id, products.c.name))
    }
    for uid, eid, app, props in conn.execute(
        select(events.c.user_id, events.c.event_id, events.c.app_id, events.c.properties)
    ):
        p = json.loads(props)
        rid, seq = p["req"], p["seq"]
        stored.events[rid].append(seq)
        if (
            event_names.get(eid) != event_name(rid, seq)
            or external_ids.get(uid) != p["user"]
            or app != (app_key if seq % 2 else None)
        ):
            stored.problems.append(f"event {p} stored as {event_names.get(eid)!r}/{uid}/{app}")
    for uid, pid, app, quantity, props in conn.execute(
        select(
            purchases.c.user_id,
            purchases.c.product_id,
            purchases.c.app_id,
            purchases.c.quantity,
            purchases.c.properties,
        )
    ):
        p = json.loads(props)
        rid, seq = p["req"], p["seq"]
        stored.purchases[rid].append(seq)
        if (
            product_names.get(pid) != product_id(rid, seq)
            or external_ids.get(uid) != p["user"]
            or app != (app_key if seq % 2 else None)
            or quantity != seq + 1
        ):
            stored.problems.append(f"purchase {p} stored as {product_names.get(pid)!r}/{uid}")
    for external_id, custom in conn.execute(select(users.c.external_id, users.c.custom)):
        attrs = json.loads(custom)
        if external_id == TALLY:
            stored.tally = attrs.get("crash_requests", 0)
        elif external_id.startswith("a"):
            rid, seq = attrs.get("crash_req"), attrs.get("crash_seq")
            if external_id != attribute_user(rid, seq) or len(attrs) != 2:
                stored.problems.append(f"user {external_id!r} has attributes {attrs}")
            else:
                stored.attributes[rid].append(seq)
        elif not (external_id.startswith("u") and attrs == {}):
            stored.problems.append(f"unexpected user {external_id!r}: {attrs}")
    return stored


def rollup_problems(conn: Connection) -> list[str]:
    """Differences between the hourly rollups and the raw rows they count."""
    problems = []
    expected_events: Counter[tuple[int, int, int]] = Counter()
    for eid, app, time_ms in conn.execute(
        select(events.c.event_id, events.c.app_id, events.c.time_ms)
    ):
        hour = hour_bucket(time_ms, None)
        expected_events[(eid, ALL_APPS, hour)] += 1
        if app is not None:
            expected_events[(eid, app, hour)] += 1
    # Counts may sit in the recent table or, once folded, in the hourly one: sum both.
    rolled_events: dict[tuple[int, int, int], int] = defaultdict(int)
    for table in (event_rollups_hourly, event_rollups_recent):
        for eid, app, hour, count in conn.execute(
            select(table.c.event_id, table.c.app_id, table.c.hour, table.c.count)
        ):
            rolled_events[(eid, app, hour)] += count
    rolled_events = dict(rolled_events)
    if rolled_events != dict(expected_events):
        diff = {
            k: (rolled_events.get(k), expected_events.get(k))
            for k in set(rolled_events) | set(expected_events)
            if rolled_events.get(k) != expected_events.get(k)
        }
        problems.append(f"event rollups (rollup, raw) differ: {sorted(diff.items())[:20]}")
    expected_purchases: dict[tuple[int, int, int], list[float]] = defaultdict(lambda: [0, 0, 0.0])
    for pid, app, price, quantity, time_ms in conn.execute(
        select(
            purchases.c.product_id,
            purchases.c.app_id,
            purchases.c.price,
            purchases.c.quantity,
            purchases.c.time_ms,
        )
    ):
        hour = hour_bucket(time_ms, None)
        for product_key in (ALL_PRODUCTS, pid):
            for app_key_ in (ALL_APPS,) if app is None else (ALL_APPS, app):
                totals = expected_purchases[(product_key, app_key_, hour)]
                totals[0] += 1
                totals[1] += quantity
                totals[2] += price * quantity
    rolled_purchases: dict[tuple[int, int, int], list[float]] = defaultdict(lambda: [0, 0, 0.0])
    for table in (purchase_rollups_hourly, purchase_rollups_recent):
        for pid, app, hour, n, q, r in conn.execute(
            select(
                table.c.product_id,
                table.c.app_id,
                table.c.hour,
                table.c.purchases,
                table.c.quantity,
                table.c.revenue,
            )
        ):
            totals = rolled_purchases[(pid, app, hour)]
            totals[0] += n
            totals[1] += q
            totals[2] += r
    rolled_purchases = dict(rolled_purchases)
    for key in set(rolled_purchases) | set(expected_purchases):
        got, want = rolled_purchases.get(key), expected_purchases.get(key)
        if (
            got is None
            or want is None
            or got[:2] != want[:2]
            or abs(got[2] - want[2]) > 1e-6 * max(1.0, want[2])
        ):
            problems.append(f"purchase rollup {key}: rollup {got}, raw {want}")
    orphan_events = (
        conn.execute(
            select(custom_events.c.name).where(custom_events.c.id.not_in(select(events.c.event_id)))
        )
        .scalars()
        .all()
    )
    if orphan_events:
        problems.append(f"catalog events without any stored event: {sorted(orphan_events)[:10]}")
    orphan_products = (
        conn.execute(
            select(products.c.name).where(products.c.id.not_in(select(purchases.c.product_id)))
        )
        .scalars()
        .all()
    )
    if orphan_products:
        problems.append(f"catalog products without any purchase: {sorted(orphan_products)[:10]}")
    return problems


def kpi_problems(conn: Connection) -> list[str]:
    """Differences between the KPI counts and a rebuild of them from the raw rows."""
    t = kpi_daily
    columns = (t.c.workspace_id, t.c.app_id, t.c.day, t.c.dau, t.c.new_users, t.c.mau_delta)

    def counts() -> dict[tuple[int, int, int], tuple[int, int, int]]:
        rows = conn.execute(select(*columns)).all()
        return {(w, a, d): (x, y, z) for w, a, d, x, y, z in rows if (x, y, z) != (0, 0, 0)}

    savepoint = conn.begin_nested()
    try:
        fold_job(conn)  # pairs SQLite ingest deferred count as stored, as readers fold them
        stored = counts()
        for ws, zone in conn.execute(select(workspaces.c.id, workspaces.c.time_zone)).all():
            rebuild_kpis(conn, ws, zone)
        rebuilt = counts()
    finally:
        savepoint.rollback()
    if stored == rebuilt:
        return []
    keys = [k for k in set(stored) | set(rebuilt) if stored.get(k) != rebuilt.get(k)]
    diff = {k: (stored.get(k), rebuilt.get(k)) for k in keys}
    return [f"KPI counts (stored, rebuilt) differ: {sorted(diff.items())[:20]}"]


def audit(conn: Connection, sent: list[Sent], app_key: int) -> tuple[list[str], dict[str, int]]:
    """Check the durability contract against what the clients saw; return problems and figures."""
    stored = read_stored(conn, app_key)
    problems = list(stored.problems)
    by_rid = {s.rid: s for s in sent}
    full = {
        "events": sorted(EVENT_SEQS),
        "purchases": sorted(PURCHASE_SEQS),
        "attributes": sorted(ATTRIBUTE_SEQS),
    }
    never_sent = stored.request_ids() - set(by_rid)
    if never_sent:
        problems.append(f"objects stored for requests never sent: {sorted(never_sent)[:20]}")
    committed = 0
    figures = Counter[str]()
    for s in sent:
        found = {
            "events": sorted(stored.events.get(s.rid, [])),
            "purchases": sorted(stored.purchases.get(s.rid, [])),
            "attributes": sorted(stored.attributes.get(s.rid, [])),
        }
        whole = found == full
        empty = not any(found.values())
        committed += whole
        if s.status == 201:
            figures["acknowledged requests"] += 1
            figures["acknowledged objects"] += sum(len(v) for v in full.values()) + 1
            if not whole:
                problems.append(f"request {s.rid} was acknowledged but stored {found}")
            counts = {k: v for k, v in (s.body or {}).items() if k.endswith("_processed")}
            if counts != EXPECTED_COUNTS or "errors" in (s.body or {}):
                problems.append(f"request {s.rid} answered {s.body}")
        elif s.status is not None:
            figures["refused requests"] += 1
            problems.append(f"request {s.rid} answered {s.status} {s.body}")
            if not empty:
                problems.append(f"request {s.rid} answered {s.status} yet stored {found}")
        else:
            figures["unknown requests"] += 1
            figures["unknown requests stored"] += whole
        if not whole and not empty:
            problems.append(f"request {s.rid} half-written: {found} of {full}")
        for kind, seqs in found.items():
            if len(seqs) != len(set(seqs)):
                problems.append(f"request {s.rid}: duplicated {kind} {seqs}")
    if stored.tally != committed:
        problems.append(f"tally user counted {stored.tally} requests, {committed} are stored whole")
    problems += rollup_problems(conn)
    problems += kpi_problems(conn)
    return problems, dict(figures)


def wait_for_postgres_sessions_gone(database_url: str, timeout: float = 15.0) -> None:
    """Wait until no other session is attached to the test database (the killed server's)."""
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        while True:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()
            if row is None or row[0] == 0:
                return
            assert time.monotonic() < deadline, f"{row[0]} sessions still open after the kill"
            time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.timeout(150)
@pytest.mark.parametrize("workers", [1, 2], ids=["1-worker", "2-workers"])
def test_sigkill_under_load_keeps_every_acknowledged_object_and_no_half_request(
    database_url: str, tmp_path: Path, workers: int
) -> None:
    key = heron_cli("keys", "create", "--name", "crash", "--database", database_url)
    app_id = heron_cli("apps", "create", "crash-app", "--database", database_url)
    server = ServerProcess(database_url, tmp_path / "server.log", workers=workers)
    load: Load | None = None
    try:
        server.start()
        load = Load(server.base_url, key, app_id)
        load.start(CLIENTS)
        began = time.monotonic()
        while load.acks < MIN_ACKS_BEFORE_KILL:
            assert time.monotonic() - began < MAX_WARMUP_SECONDS, (
                f"only {load.acks} acknowledgements in {MAX_WARMUP_SECONDS}s:\n{server.log_tail()}"
            )
            assert not load.stop.is_set()
            time.sleep(0.01)
        time.sleep(max(0.0, began + random.uniform(*LOAD_SECONDS) - time.monotonic()))
        killed_at = time.monotonic()
        server.kill()
        load.join(timeout=20.0)
    finally:
        if load is not None:
            load.stop.set()
        server.kill()
    died_early = [s.rid for s in load.sent if s.status is None and s.finished < killed_at]
    assert not died_early, f"requests failed before the kill: {died_early}\n{server.log_tail()}"
    if BACKEND == "postgresql":
        wait_for_postgres_sessions_gone(database_url)

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            app_key = conn.execute(select(apps.c.id).where(apps.c.api_id == app_id)).scalar_one()
            problems, figures = audit(conn, load.sent, app_key)
    finally:
        engine.dispose()
    print(
        f"crash run ({BACKEND}, {workers} worker(s)): {figures}, killed after "
        f"{killed_at - began:.2f}s of load"
    )
    assert figures.get("acknowledged requests", 0) >= MIN_ACKS_BEFORE_KILL
    assert not problems, "\n".join([*problems[:40], server.log_tail()])

    # Recovery: the server starts on the crashed database and stores a new request.
    try:
        server.start()
        with httpx.Client(base_url=server.base_url, timeout=REQUEST_TIMEOUT) as client:
            response = client.post(
                "/users/track",
                content=json.dumps(track_body(0, app_id)),
                headers={**auth(key), "Content-Type": "application/json"},
            )
        assert response.status_code == 201, f"{response.text}\n{server.log_tail()}"
        server.stop()
    finally:
        server.kill()
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            problems, figures = audit(conn, [*load.sent, Sent(0, 201, response.json())], app_key)
    finally:
        engine.dispose()
    assert not problems, "\n".join([*problems[:40], server.log_tail()])
