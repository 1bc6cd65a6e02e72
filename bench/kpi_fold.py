"""The KPI path of distinct events on SQLite: two writers' recorders, their appends and folds.

Run: `.venv/bin/python bench/kpi_fold.py` (see `--help`). On a fresh SQLite file with heron's
schema, two `KpiRecorder`s (two writer processes' worth) take turns recording groups of events
drawn as bench/import.py's file is (100,000 users, 10 weighted apps, one day), and run their
fold steps exactly as the writer loop does (`fold_due`, then `fold` in a transaction of its
own, then `folded`), with the writer's settings (WAL, `synchronous=NORMAL`, no automatic
checkpoint). It prints, per event, the time of the groups' KPI work (record and commit) and of
the fold steps, the longest fold step (the longest the write lock is held for folding), and
the bytes appended to the WAL; then a reader folds what is left and the stored DAU of every
app is checked against the distinct users the bench drew.

Only the recorder API is used, so another checkout's code can be measured with its own
environment: `cd ../other && .venv/bin/python ../heron/bench/kpi_fold.py`.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heron.analytics import kpi
from heron.analytics.kpi import KpiRecorder, fold_pending
from heron.store import migrate
from heron.store.engine import make_engine

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from benchlib import dataset  # noqa: E402

WORKSPACE = 1
CONSTANTS = ("FOLD_ROWS", "CHECK_ROWS", "BATCH_ROWS", "SLICE_PAIRS")  # printed where they exist
# the writer thread's settings (heron.store.engine, heron.ingest.writer)
WRITER_PRAGMAS = (
    "journal_mode=WAL",
    "synchronous=NORMAL",
    "wal_autocheckpoint=0",
    "cache_size=-65536",
    "temp_store=MEMORY",
)


@dataclass
class Group:
    """What `KpiRecorder.record` reads from a track group (heron.analytics.kpi.KpiGroup)."""

    events: list[tuple[Any, ...]]
    purchases: list[tuple[Any, ...]] = field(default_factory=list)
    created_users: dict[int, tuple[int, int]] = field(default_factory=dict)
    time_zones: dict[int, str] = field(default_factory=lambda: {WORKSPACE: "UTC"})


def draw_group(rng: random.Random, count: int, now_ms: int, cum: tuple[float, ...]) -> Group:
    """`count` events of random users and weighted apps, timed within the last minute."""
    apps = rng.choices(range(1, dataset.APPS + 1), cum_weights=cum, k=count)
    users = [rng.randrange(1, dataset.USERS + 1) for _ in apps]
    times = [now_ms - rng.randrange(60_000) for _ in apps]
    return Group(
        [(WORKSPACE, u, 1, a, t, None) for u, a, t in zip(users, apps, times, strict=True)]
    )


def main() -> int:
    """Drive the recorders and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--group", type=int, default=1_000, help="events per group")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=N", help="override a KPI constant"
    )
    args = parser.parse_args()
    for setting in args.set:
        name, value = setting.split("=")
        if not hasattr(kpi, name):
            parser.error(f"heron.analytics.kpi has no {name}")
        setattr(kpi, name, int(value))
    directory = Path(tempfile.mkdtemp(prefix="heron-kpi-fold-"))
    try:
        return run(args, directory / "kpi.db")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def run(args: argparse.Namespace, path: Path) -> int:
    """One measured drive on a fresh file at `path`."""
    migrate.upgrade(make_engine(f"sqlite:///{path}"))
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in WRITER_PRAGMAS:
        db.execute(f"PRAGMA {pragma}")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    cur = db.cursor()
    rng = random.Random(11)
    cum = dataset.make_catalog().app_cum_weights
    now_ms = int(time.time() * 1000)
    writers = [KpiRecorder(False), KpiRecorder(False)]
    active: dict[tuple[int, int], set[int]] = {}  # (app key, UTC day) -> users drawn
    record_s = fold_s = longest = 0.0
    steps = 0
    for start in range(0, args.events, args.group):
        group = draw_group(rng, min(args.group, args.events - start), now_ms, cum)
        for _ws, uid, _name, app, t, _p in group.events:
            day = t // kpi.DAY_MS
            active.setdefault((app, day), set()).add(uid)
            active.setdefault((0, day), set()).add(uid)
        writer = writers[(start // args.group) % 2]
        began = time.perf_counter()
        cur.execute("BEGIN IMMEDIATE")
        writer.record(cur, group)
        cur.execute("COMMIT")
        writer.commit()
        middle = time.perf_counter()
        record_s += middle - began
        if writer.fold_due():
            cur.execute("BEGIN IMMEDIATE")
            writer.fold(cur)
            cur.execute("COMMIT")
            writer.folded()
            step = time.perf_counter() - middle
            fold_s += step
            longest = max(longest, step)
            steps += 1
    wal_bytes = os.path.getsize(f"{path}-wal")
    began = time.perf_counter()
    cur.execute("BEGIN IMMEDIATE")
    fold_pending(cur)
    cur.execute("COMMIT")
    reader_s = time.perf_counter() - began
    cur.execute("SELECT app_id, day, dau FROM kpi_daily WHERE dau <> 0")
    stored = {(int(app), int(day)): int(dau) for app, day, dau in cur.fetchall()}
    exact = stored == {key: len(users) for key, users in active.items()}
    db.close()
    per_event = 1e6 / args.events
    settings = " ".join(f"{n}={getattr(kpi, n)}" for n in CONSTANTS if hasattr(kpi, n))
    print(f"heron {Path(kpi.__file__).resolve().parents[3]}  {settings}")
    print(f"{args.events:,} events in groups of {args.group:,}, two writers taking turns")
    print(f"  groups' KPI work (record + commit)  {record_s * per_event:6.2f} us/event")
    print(
        f"  fold steps                          {fold_s * per_event:6.2f} us/event"
        f"  ({steps} steps, longest {longest * 1e3:.0f} ms)"
    )
    print(f"  WAL appended                        {wal_bytes / args.events:6.0f} B/event")
    print(f"  reader's fold of the rest           {reader_s * 1e3:6.0f} ms")
    verdict = "equal to" if exact else "DIFFERENT FROM"
    print(f"  stored DAU per app and day {verdict} the users drawn")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
