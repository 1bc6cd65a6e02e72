"""What the KPI hook adds to `TrackStore.apply`: groups of 20 x 75 events, with and without it.

Steady state: every (user, app, day) of the measured groups was recorded during warm-up, as in
a server that has seen its users today. Groups with and without the hook alternate so that
both see the same database and cache state; only `apply` is timed (the commit is not, and the
hook issues no SQL in steady state). On a shared machine the with/without difference of two
~10 ms medians is noisy, so the hook is also timed inside those applies, and alone.

    .venv/bin/python bench/kpi_overhead.py [--zone America/New_York] [--groups 60]
    .venv/bin/python bench/kpi_overhead.py --database-url postgresql+psycopg://127.0.0.1:5432/x
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import tempfile
import time
from typing import Any

from sqlalchemy import insert

from heron.admin import apps as app_admin
from heron.admin import workspaces as ws_admin
from heron.analytics.kpi import KpiRecorder
from heron.ingest.batch import TrackBatch
from heron.ingest.events import validate_event
from heron.ingest.trackstore import TrackStore
from heron.store import migrate
from heron.store.engine import WRITE_OPTION, make_engine
from heron.store.schema import users

USERS = 50_000
APPS = 10
BATCHES_PER_GROUP = 20
EVENTS_PER_BATCH = 75


def make_group(
    rng: random.Random, ws: int, zone: str, apps: list[str], keys: dict[str, int], now_ms: int
) -> list[TrackBatch]:
    """20 batches of 75 valid events from random users and apps, timed in the last minute."""
    batches = []
    for _ in range(BATCHES_PER_GROUP):
        batch = TrackBatch(ws, zone, now_ms)
        for index in range(EVENTS_PER_BATCH):
            obj = {
                "external_id": f"user-{rng.randrange(USERS)}",
                "app_id": rng.choice(apps),
                "name": f"event_{rng.randrange(50)}",
                "time": time.strftime(
                    "%Y-%m-%dT%H:%M:%SZ", time.gmtime((now_ms - rng.randrange(60_000)) / 1000)
                ),
                "properties": {"n": rng.randrange(100)},
            }
            record = validate_event(obj, now_ms, keys)
            assert not isinstance(record, str), record
            batch.events.append((index, record))
        batches.append(batch)
    return batches


class NoKpi(KpiRecorder):
    """A recorder that records nothing (the 'without' side)."""

    def record(self, cur: Any, group: Any) -> None:
        """Do nothing."""


class TimedKpi(KpiRecorder):
    """The real recorder, timing each call and counting SQL-bound (user, app, day) pairs."""

    def __init__(self, postgres: bool) -> None:
        super().__init__(postgres)
        self.times: list[float] = []
        self.pairs = 0

    def record(self, cur: Any, group: Any) -> None:
        """Record, timed."""
        began = time.perf_counter()
        super().record(cur, group)
        self.times.append(time.perf_counter() - began)
        self.pairs += len(self._staged)


def main() -> None:
    """Run the measurement and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zone", default="UTC")
    parser.add_argument("--groups", type=int, default=60, help="measured groups per side")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp()
    url = args.database_url or f"sqlite:///{os.path.join(tmp, 'kpi.db')}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    ws = ws_admin.create_workspace(engine, f"bench-{time.time_ns()}", args.zone).id
    apps = [app_admin.create_app(engine, ws, f"app{i}") for i in range(APPS)]
    keys = {a.api_id: a.id for a in apps}
    api_ids = [a.api_id for a in apps]
    rng = random.Random(7)
    now_ms = int(time.time() * 1000)
    with_kpi = TrackStore(engine.dialect.name)
    without = TrackStore(engine.dialect.name)
    without._kpi = NoKpi(False)
    timed = with_kpi._kpi = TimedKpi(engine.dialect.name == "postgresql")

    # Create the users (so neither side pays for that) and record every pair once.
    with engine.begin() as conn:
        conn.execute(
            insert(users),
            [
                {
                    "workspace_id": ws,
                    "braze_id": f"{i:024x}",
                    "external_id": f"user-{i}",
                    "created_at_ms": now_ms,
                    "updated_at_ms": now_ms,
                }
                for i in range(USERS)
            ],
        )
    groups = [make_group(rng, ws, args.zone, api_ids, keys, now_ms) for _ in range(40)]
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})

        def run(store: TrackStore, group: list[TrackBatch]) -> float:
            with conn.begin():
                began = time.perf_counter()
                store.apply(conn, group)
                elapsed = time.perf_counter() - began
            store.commit_pending()
            return elapsed

        warm = time.perf_counter()
        for _ in range(3):  # every (user, app, day) of the groups gets recorded
            for group in groups:
                run(with_kpi, group)
                run(without, group)
        print(f"warm-up: {time.perf_counter() - warm:.1f} s")
        timed_with: list[float] = []
        timed_without: list[float] = []
        timed.times.clear()
        timed.pairs = 0
        for n in range(args.groups):
            group = groups[n % len(groups)]
            if n % 2:  # alternate who goes first: the second run finds the pages cached
                timed_with.append(run(with_kpi, group))
                timed_without.append(run(without, group))
            else:
                timed_without.append(run(without, group))
                timed_with.append(run(with_kpi, group))
        inside = list(timed.times)
        pairs = timed.pairs

        # The hook alone, on the rows the store queued for the last group.
        recorder = with_kpi._kpi
        with conn.begin():
            with_kpi.apply(conn, groups[0])
            queued = with_kpi._group
            assert queued is not None
            raw = conn.connection.driver_connection
            assert raw is not None
            cur = raw.cursor()
            hook = []
            for _ in range(200):
                began = time.perf_counter()
                recorder.record(cur, queued)
                hook.append(time.perf_counter() - began)
            cur.close()
        with_kpi.commit_pending()
    events = BATCHES_PER_GROUP * EVENTS_PER_BATCH
    w, wo, h = statistics.median(timed_with), statistics.median(timed_without), min(hook)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {engine.dialect.name}, zone {args.zone}"
    )
    print(f"apply, median of {args.groups} groups of {events} events:")
    print(f"  with the KPI hook    {w * 1e3:8.2f} ms  ({w / events * 1e6:.3f} us/event)")
    print(f"  without              {wo * 1e3:8.2f} ms  ({wo / events * 1e6:.3f} us/event)")
    print(f"  difference           {(w - wo) / events * 1e6:+.3f} us/event")
    m, best = statistics.median(inside), min(inside)
    print(
        f"KPI hook inside those applies: median {m * 1e3:.3f} ms/group"
        f" ({m / events * 1e9:.0f} ns/event), best {best / events * 1e9:.0f} ns/event;"
        f" {pairs} pairs reached SQL"
    )
    print(f"KPI hook alone (best of 200): {h * 1e3:.3f} ms ({h / events * 1e9:.0f} ns/event)")
    engine.dispose()


if __name__ == "__main__":
    main()
