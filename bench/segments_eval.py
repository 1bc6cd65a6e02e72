"""Segment evaluator cost: backfill rate (users/s) and incremental CPU per event, in-process.

Run: `.venv/bin/python bench/segments_eval.py --users 100000` (prints its figures).

Uses bench/segments.py's database (bench/ingest.py's prefill grown to `--users` profiles) and
its 25 definitions; no HTTP server. Times the initial evaluation of all segments (the backfill,
`catch_up`), then appends `--events` new raw events and times the evaluator's steps over them:
CPU seconds per event (SQLite's work included: it runs in this process).

The new events are drawn as bench/ingest.py's bodies draw them (`--workload bench`, the
default): Zipf-popular event names, weighted apps, users among the first `dataset.USERS`
profiles, times within the last minute; `--workload uniform` draws names, apps and users
uniformly (this script's draw before 2026-11-22 17:00). The user-history index is brought up to
date before the steps (a server's indexer runs behind ingest about once a second), unless
`--no-index`. `--rounds N` appends the events in N parts and lets the evaluator catch up after
each (a server's evaluator that keeps up takes steps of about its pace's worth of rows; one
round is one backlog of `--events`). `--profile PATH` writes a cProfile.
"""

from __future__ import annotations

import argparse
import cProfile
import random
import shutil
import sqlite3
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

import segments as segbench  # noqa: E402
from benchlib import dataset, machine, prefill  # noqa: E402


def new_events(
    raw: sqlite3.Connection, workload: str, count: int, users: int, first: int, ms: int
) -> list[tuple[int, int, int, int, int, int, str]]:
    """`count` raw event rows from id `first`: drawn as bench/ingest.py's bodies, or uniformly."""
    rng = random.Random(11)
    names = [int(r[0]) for r in raw.execute("SELECT id FROM custom_events ORDER BY id")]
    app_ids = [int(r[0]) for r in raw.execute("SELECT id FROM apps ORDER BY id")]
    if workload == "uniform":
        drawn_names = [rng.choice(names) for _ in range(count)]
        drawn_apps = [rng.choice(app_ids) for _ in range(count)]
        drawn_users = [rng.randrange(1, users + 1) for _ in range(count)]
    else:  # ids as the prefill numbers them: custom_events.id and apps.id are catalog index + 1
        catalog = dataset.make_catalog()
        drawn_names = rng.choices(names, cum_weights=catalog.event_cum_weights, k=count)
        drawn_apps = rng.choices(app_ids, cum_weights=catalog.app_cum_weights, k=count)
        population = min(users, dataset.USERS)
        drawn_users = [rng.randrange(1, population + 1) for _ in range(count)]
    return [
        (first + n, dataset.WORKSPACE_ID, uid, name, app, ms - rng.randrange(60_000), "{}")
        for n, (uid, name, app) in enumerate(zip(drawn_users, drawn_names, drawn_apps, strict=True))
    ]


def main(argv: list[str]) -> int:
    """Build or reuse the database, then measure both phases."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prefill", type=int, default=1_000_000, help="prefilled events")
    parser.add_argument("--users", type=int, default=100_000, help="profiles")
    parser.add_argument("--segments", type=int, default=25)
    parser.add_argument("--events", type=int, default=60_000, help="events for the step phase")
    parser.add_argument("--batch", type=int, default=5_000, help="backfill batch (users)")
    parser.add_argument(
        "--workload", choices=("bench", "uniform"), default="bench", help="how events are drawn"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="append the events in this many parts, the evaluator catching up after each",
    )
    parser.add_argument(
        "--no-index", action="store_true", help="leave the new events out of the history index"
    )
    parser.add_argument("--profile", type=Path, help="write cProfile stats here")
    parser.add_argument(
        "--profile-phase",
        choices=("both", "backfill", "steps"),
        default="both",
        help="which phase --profile records",
    )
    args = parser.parse_args(argv)
    for label, value in machine.describe(prefill.CACHE_DIR.parent):
        print(f"{label:<10} {value}", flush=True)
    pre = prefill.sqlite_prefill(args.prefill, segbench.log)
    grown = pre.path.with_name(f"{pre.path.stem}-users{args.users}.db")
    if not grown.exists():
        partial = grown.with_name(grown.name + ".partial")
        shutil.copyfile(pre.path, partial)
        segbench.grow_users(partial, args.users, segbench.log)
        partial.rename(grown)
    work = prefill.CACHE_DIR / "run" / "segments-eval.db"
    work.parent.mkdir(exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(str(work) + suffix).unlink(missing_ok=True)
    shutil.copyfile(grown, work)

    from heron.segments import consumer, service
    from heron.store import migrate
    from heron.store.engine import make_engine

    engine = make_engine(f"sqlite:///{work}")
    migrate.upgrade(engine)
    consumer.step(engine)  # no segment yet: the watermarks move to the end, as a server's would
    now = int(time.time() * 1000)
    for i, tree in enumerate(segbench.definitions(args.segments, dataset.make_catalog())):
        fields = service.parse_fields({"name": f"bench {i}", "filter": tree}, creating=True)
        row = service.create(engine, dataset.WORKSPACE_ID, fields, now)
        service.set_tracking(engine, dataset.WORKSPACE_ID, row.segment_id, True, now, 25)
    profiler = cProfile.Profile() if args.profile else None
    backfill_profiler = profiler if args.profile_phase != "steps" else None
    steps_profiler = profiler if args.profile_phase != "backfill" else None
    wall, cpu = time.perf_counter(), time.process_time()
    if backfill_profiler:
        backfill_profiler.enable()
    consumer.catch_up(engine, batch=args.batch)
    if backfill_profiler:
        backfill_profiler.disable()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"backfill   {args.segments} segments x {args.users:,} users: {wall:.1f} s wall,"
        f" {cpu:.1f} s CPU; {args.users / wall:,.0f} users/s",
        flush=True,
    )

    from heron.users import history_index

    raw = sqlite3.connect(work, isolation_level=None)
    first = int(raw.execute("SELECT max(id) FROM events").fetchone()[0]) + 1
    ms = int(time.time() * 1000)
    rows = new_events(raw, args.workload, args.events, args.users, first, ms)
    per_round = -(-len(rows) // args.rounds)
    wall = cpu = 0.0
    steps = 0
    for start in range(0, len(rows), per_round):  # ingest, then the evaluator catches up
        raw.execute("BEGIN")
        raw.executemany(
            "INSERT INTO events (id, workspace_id, user_id, event_id, app_id, time_ms, properties)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows[start : start + per_round],
        )
        raw.execute("COMMIT")
        if not args.no_index:
            history_index.catch_up(engine)
        if steps_profiler:
            steps_profiler.enable()
        wall, cpu = wall - time.perf_counter(), cpu - time.process_time()
        steps += consumer.catch_up(engine, now_ms=ms + 1)
        wall, cpu = wall + time.perf_counter(), cpu + time.process_time()
        if steps_profiler:
            steps_profiler.disable()
    raw.close()
    if profiler:
        profiler.dump_stats(args.profile)
    print(
        f"steps      {args.events:,} new events in {args.rounds} rounds, {steps} steps:"
        f" {wall:.1f} s wall, {cpu:.1f} s CPU; {cpu / args.events * 1e6:.1f} us CPU per event,"
        f" {args.events / wall:,.0f} events/s ({args.workload} workload)"
    )
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
