"""Segments benchmark: `/users/track` throughput with no segment and with 25 tracked segments.

Run: `.venv/bin/python bench/segments.py` (see `--help`); prints its figures.

Both sides serve the same database: bench/ingest.py's prefill (apps, event names, history)
grown to `--users` profiles (1 million by default) with attributes (country, language, plan,
score). The second side also holds `--segments` analytics-tracked segments (attribute,
event-count, time-window, app and combined filters, and one that matches everyone), whose
initial membership is computed before the server starts (timed and printed). Both sides then
get the same HTTP load as bench/ingest.py; the server's background evaluator keeps membership
and the tracked rollups current meanwhile. Printed: each side's figures, for the segment side
the evaluator's lag when the load stopped, the time it then needed to catch up alone, and a
check that the everyone-segment's tracked count equals the events ingested after tracking was
turned on; then the two rates the issue's target (ratio >= 0.80) is judged on.

The metric. Ingest that outruns the evaluator is not "kept current", so the segment side is
charged for its evaluator's backlog:

    effective rate = events ingested since tracking began / (serving time + catch-up time)

where serving time runs from the first request sent to the last answer read (warm-up and
drain included) and catch-up time is how long `heron.segments.consumer.catch_up` then takes,
alone on the stopped server's database, to evaluate what was still unevaluated. The reference
is the no-segment side's rate over the same span (all events acknowledged / serving time; it
has nothing to catch up). The ratio is effective / reference. The raw rates (events
acknowledged in the measured window / its length, bench/ingest.py's figure) and their ratio
are printed as well, for context: that raw ratio does not count the backlog.
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import shutil
import sqlite3
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

import ingest  # noqa: E402
from benchlib import dataset, machine, prefill  # noqa: E402

NO_SEGMENTS = "heron"
WITH_SEGMENTS = "heron+segments"
TARGET_RATIO = 0.80
COUNTRIES = ("US", "FR", "DE", "GB", "BR", "IN", "JP")
PLANS = ("free", "basic", "plus", "pro", "team")
EVERYONE = {
    "or": [
        {"custom_attribute": "plan", "op": "exists"},
        {"custom_attribute": "plan", "op": "does_not_exist"},
    ]
}


def log(message: str) -> None:
    """Print a progress line with a timestamp."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def definitions(count: int, catalog: dataset.Catalog) -> list[dict[str, Any]]:
    """`count` segment definitions of every kind (the last one matches everyone).

    Event filters name the most popular events first (a segment on an event nobody sends
    would cost the evaluator nothing and show nothing).
    """
    by_share = sorted(range(1, len(catalog.event_names) + 1), key=catalog.event_share, reverse=True)
    names = [catalog.event_names[event_id - 1] for event_id in by_share]
    app = catalog.app_api_ids[0]
    pool: list[dict[str, Any]] = []
    for i, country in enumerate(COUNTRIES):
        pool.append({"standard_attribute": "country", "op": "equals", "value": country})
        pool.append({"custom_event": names[i], "op": "count_greater_than", "value": 2 + i % 3})
    for i, plan in enumerate(PLANS):
        pool.append(
            {
                "and": [
                    {"custom_attribute": "plan", "op": "equals", "value": plan},
                    {"custom_attribute": "score", "op": "greater_than", "value": 50},
                ]
            }
        )
        pool.append(
            {
                "custom_event": names[10 + i],
                "op": "count_greater_than",
                "value": 0,
                "within_last_days": (7, 14, 30, 3, 1)[i],
            }
        )
    pool.append({"app": app, "op": "used"})
    pool.append(
        {
            "or": [
                {"custom_event": names[0], "op": "last_less_than_days_ago", "value": 2},
                {"standard_attribute": "language", "op": "equals", "value": "fr"},
            ]
        }
    )
    pool.append({"custom_event": names[1], "op": "first_more_than_days_ago", "value": 60})
    chosen = pool[: max(count - 1, 0)]
    while len(chosen) < count - 1:
        chosen.append(pool[len(chosen) % len(pool)])
    return [*chosen, EVERYONE][:count]


def grow_users(path: Path, users: int, log: Any) -> None:
    """Give the prefill's users attributes and add profiles up to `users` in total."""
    rng = random.Random(5)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN")
        start_ms = int(time.time() * 1000) - 100 * 86_400_000

        def docs() -> tuple[str, str]:
            standard = {"country": rng.choice(COUNTRIES), "language": rng.choice(("en", "fr"))}
            custom = {"plan": rng.choice(PLANS), "score": rng.randint(0, 100)}
            return json.dumps(standard), json.dumps(custom)

        existing = [row[0] for row in conn.execute("SELECT id FROM users ORDER BY id")]
        conn.executemany(
            "UPDATE users SET standard = ?, custom = ? WHERE id = ?",
            ((*docs(), uid) for uid in existing),
        )
        first = max(existing, default=0) + 1
        conn.executemany(
            "INSERT INTO users (id, workspace_id, braze_id, external_id, created_at_ms,"
            " updated_at_ms, standard, custom) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (n, dataset.WORKSPACE_ID, f"{n:024x}", f"user-{n}", start_ms, start_ms, *docs())
                for n in range(first, users + 1)
            ),
        )
        conn.execute("COMMIT")
    finally:
        conn.close()
    log(f"users: {users:,} profiles with attributes")


class SegmentsBench(ingest.Bench):
    """bench/ingest.py's harness with two heron sides: no segments, and tracked segments."""

    def __init__(self, args: argparse.Namespace) -> None:
        """Keep the arguments."""
        super().__init__(args)
        self.initial_evaluation_s: float | None = None
        self.segment_report: list[str] = []
        self.tracking_from: int = 0
        self.ingested: int = 0  # events stored on the segment side since tracking began
        self.catch_up_s: float | None = None  # the evaluator's catch-up after the load

    def _names(self) -> list[str]:
        """The two sides, no segments first (the reference)."""
        return [NO_SEGMENTS, WITH_SEGMENTS]

    def prepare(self) -> None:
        """The ingest prefill, grown to `--users` profiles (cached per prefill and user count)."""
        super().prepare()
        assert self.prefill is not None
        grown = self.prefill.path.with_name(f"{self.prefill.path.stem}-users{self.args.users}.db")
        if not grown.exists():
            started = time.perf_counter()
            partial = grown.with_name(grown.name + ".partial")
            shutil.copyfile(self.prefill.path, partial)
            grow_users(partial, self.args.users, log)
            partial.rename(grown)
            log(f"grown prefill built in {time.perf_counter() - started:.0f} s")
        self.prefill = replace(self.prefill, path=grown, size_bytes=grown.stat().st_size)

    def prepare_database(self, side: ingest.Side, url: str) -> None:
        """For the segment side: create the tracked segments and evaluate them for every user."""
        if side.name != WITH_SEGMENTS:
            return
        from heron.segments import service
        from heron.segments.consumer import catch_up
        from heron.store import migrate
        from heron.store.engine import make_engine

        engine = make_engine(url)
        try:
            migrate.upgrade(engine)
            now = int(time.time() * 1000)
            for i, tree in enumerate(definitions(self.args.segments, dataset.make_catalog())):
                fields = service.parse_fields({"name": f"bench {i}", "filter": tree}, creating=True)
                row = service.create(engine, dataset.WORKSPACE_ID, fields, now)
                service.set_tracking(
                    engine, dataset.WORKSPACE_ID, row.segment_id, True, now, self.args.segments
                )
            started = time.perf_counter()
            catch_up(engine, batch=5_000)
            self.initial_evaluation_s = time.perf_counter() - started
            with engine.connect() as conn:
                self.tracking_from = int(
                    conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM events").scalar() or 0
                )
                sizes = [int(n) for (n,) in conn.exec_driver_sql("SELECT size FROM segments")]
            log(
                f"{len(sizes)} tracked segments evaluated for {self.args.users:,} users in"
                f" {self.initial_evaluation_s:.0f} s; sizes {sorted(sizes)}"
            )
        finally:
            engine.dispose()

    def after_load(self, side: ingest.Side, url: str) -> None:
        """For the segment side: the evaluator's lag, its catch-up time, the everyone check."""
        if side.name != WITH_SEGMENTS:
            return
        from heron.segments.consumer import catch_up
        from heron.store.engine import make_engine

        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                newest = int(
                    conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM events").scalar() or 0
                )
                mark = int(
                    conn.exec_driver_sql(
                        "SELECT coalesce(max(value), 0) FROM segment_progress WHERE name = 'events'"
                    ).scalar()
                    or 0
                )
            lag = newest - max(mark, self.tracking_from)
            started = time.perf_counter()
            catch_up(engine)
            drain = time.perf_counter() - started
            with engine.connect() as conn:
                counted = int(
                    conn.exec_driver_sql(
                        "SELECT coalesce(sum(r.count), 0) FROM segment_event_rollups r"
                        " JOIN segments s ON s.id = r.segment_id"
                        " WHERE s.name = ? AND r.app_id = 0",
                        (f"bench {self.args.segments - 1}",),
                    ).scalar()
                    or 0
                )
            ingested = newest - self.tracking_from
            self.ingested, self.catch_up_s = ingested, drain
            verdict = "OK" if counted == ingested else "MISMATCH"
            assert side.load is not None
            served_s = max(side.load.run_seconds, 1e-9)
            rate = (newest - self.tracking_from - lag) / served_s
            self.segment_report = [
                f"  evaluator       {lag:,} of {ingested:,} new events not yet evaluated when the"
                f" load stopped (about {rate:,.0f} events/s evaluated while serving);"
                f" caught up alone in {drain:.1f} s",
                f"  tracked check   everyone-segment counted {counted:,} events of {ingested:,}"
                f" ingested since tracking began: {verdict}",
            ]
        finally:
            engine.dispose()


def parse_args(argv: list[str]) -> argparse.Namespace:
    """bench/ingest.py's options plus the segment ones (SQLite only)."""
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--users", type=int, default=1_000_000, help="profiles in the database")
    extra.add_argument("--segments", type=int, default=25, help="analytics-tracked segments")
    mine, rest = extra.parse_known_args(argv)
    if "--prefill" not in " ".join(rest):
        rest = ["--prefill", "1000000", *rest]
    args = ingest.parse_args(rest)
    if args.database_kind != "sqlite":
        raise SystemExit("bench/segments.py measures SQLite only")
    args.users, args.segments = mine.users, mine.segments
    args.skip_baseline = True
    return args


def summary_lines(
    bench: SegmentsBench, segments: int, raw: dict[str, float], loads: dict[str, Any]
) -> list[str]:
    """The raw and effective rates of both sides and the verdict (module doc: the metric)."""
    if NO_SEGMENTS not in raw or WITH_SEGMENTS not in raw or raw[NO_SEGMENTS] <= 0:
        return ["(no comparison: a side is missing or failed)"]
    reference = loads[NO_SEGMENTS]
    seg_load = loads[WITH_SEGMENTS]
    out = [
        f"raw rate        no segments {raw[NO_SEGMENTS]:,.0f} events/s; {segments} tracked"
        f" segments {raw[WITH_SEGMENTS]:,.0f} events/s; raw ratio"
        f" {raw[WITH_SEGMENTS] / raw[NO_SEGMENTS]:.2f} (measured window; ignores the backlog)"
    ]
    if bench.catch_up_s is None or reference.run_seconds <= 0:
        return [*out, "(no effective rate: the segment side was not checked)"]
    base = reference.total_objects / reference.run_seconds
    spent = seg_load.run_seconds + bench.catch_up_s
    effective = bench.ingested / spent if spent > 0 else 0.0
    ratio = effective / base if base > 0 else 0.0
    verdict = "PASS" if ratio >= TARGET_RATIO else "MISS"
    out += [
        f"effective rate  no segments {base:,.0f} events/s ({reference.total_objects:,} events"
        f" / {reference.run_seconds:.1f} s serving); {segments} tracked segments"
        f" {effective:,.0f} events/s ({bench.ingested:,} events / ({seg_load.run_seconds:.1f} s"
        f" serving + {bench.catch_up_s:.1f} s catch-up))",
        f"ratio           {ratio:.2f}  {verdict} (effective / no-segment rate; target >="
        f" {TARGET_RATIO:.2f})",
    ]
    return out


def main(argv: list[str]) -> int:
    """Run both sides and print the comparison."""
    args = parse_args(argv)
    machine_lines = machine.describe(prefill.CACHE_DIR.parent)
    log("heron segments benchmark: " + shlex.join([sys.executable, *sys.argv]))
    bench = SegmentsBench(args)
    bench.prepare()
    bench.run()
    assert bench.prefill is not None
    out = ["", "=" * 100, "heron segments benchmark: summary", "=" * 100]
    out.append("command    " + shlex.join([sys.executable, *sys.argv]))
    out += [f"{label:<10} {value}" for label, value in machine_lines]
    out.append(
        f"dataset    {bench.prefill.events:,} prefilled events, {args.users:,} users with"
        f" attributes, {dataset.EVENT_NAMES} event names; {args.segments} tracked segments on the"
        " segment side"
        + (
            f" (initial evaluation {bench.initial_evaluation_s:.0f} s)"
            if bench.initial_evaluation_s is not None
            else ""
        )
    )
    out.append(
        f"load       {args.concurrency} connections, {args.bodies} bodies of"
        f" {dataset.EVENTS_PER_REQUEST} events, warm-up {args.warmup:g} s,"
        f" measured {args.duration:g} s"
    )
    out.append("")
    raw: dict[str, float] = {}
    loads: dict[str, Any] = {}
    for side in bench.sides:
        out += ingest.side_lines(side, bench.prefill.events)
        if side.name == WITH_SEGMENTS:
            out += bench.segment_report
        out.append("")
        if side.load is not None and side.failure is None:
            raw[side.name] = side.load.objects_per_s
            loads[side.name] = side.load
    out += summary_lines(bench, args.segments, raw, loads)
    out.append("=" * 100)
    print("\n".join(out), flush=True)
    return 1 if any(side.failure for side in bench.sides) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
