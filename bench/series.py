"""Series benchmark: `GET /events/data_series` latency over HTTP at 1M and 10M stored events."""

# Run: `.venv/bin/python bench/series.py` (see `--help`); prints its figures, never fails on a miss.

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import signal
import sqlite3
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from benchlib import dataset, loadgen, machine, prefill, servers  # noqa: E402

HOST = "127.0.0.1"
TARGET_P99_MS = 10.0
TARGET_GROWTH = 1.2  # p99 at the largest size within this factor of the smallest size's
NOISY_OTHER_CORES = 0.25


def log(message: str) -> None:
    """Print a progress line with a timestamp."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass(frozen=True, slots=True)
class Scenario:
    """One kind of request: unit, which event, with or without app_id."""

    unit: str
    popularity: str  # "popular" or "rare"
    with_app: bool

    @property
    def label(self) -> str:
        """E.g. `day  popular  app_id`."""
        return f"{self.unit:<4} {self.popularity:<7} {'app_id' if self.with_app else 'all apps'}"


SCENARIOS = [
    Scenario(unit, popularity, with_app)
    for unit in ("hour", "day")
    for popularity in ("popular", "rare")
    for with_app in (False, True)
]


@dataclass(slots=True)
class Measured:
    """Latencies of one scenario at one size."""

    latencies_ms: list[float] = field(default_factory=list)
    points_total: int = 0  # sum of the counts of the last response (a sanity figure)
    failures: int = 0
    failure_sample: str = ""

    def quantile(self, q: float) -> float:
        """Nearest-rank quantile in milliseconds."""
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass(slots=True)
class SizeRun:
    """Everything measured for one prefill size on one database."""

    events: int
    kind: str
    rollup_rows: int = 0
    results: dict[Scenario, Measured] = field(default_factory=dict)
    healthz: Measured = field(default_factory=Measured)  # the HTTP stack's floor, for scale
    check: str = ""
    other_cores: float = float("nan")
    server_cores: float = float("nan")
    database_cores: float = float("nan")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--sizes",
        default="1000000,10000000",
        help="comma-separated prefill sizes (events); default 1M and 10M",
    )
    parser.add_argument(
        "--database-kind", choices=("sqlite", "postgresql", "both"), default="sqlite"
    )
    parser.add_argument("--requests", type=int, default=1500, help="measured per scenario")
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured per scenario")
    parser.add_argument("--length", type=int, default=100, help="series length (points)")
    parser.add_argument("--pg-url", default="postgresql+psycopg://127.0.0.1:5432/")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    return parser.parse_args(argv)


def prefill_meta(built: prefill.Prefill) -> dict[str, int]:
    """The cached prefill's metadata (history bounds)."""
    meta = json.loads(built.path.with_suffix(".json").read_text())
    return {k: int(meta[k]) for k in ("history_start_ms", "history_end_ms")}


def chosen_events(catalog: dataset.Catalog) -> dict[str, tuple[int, str]]:
    """The most and the least popular event name (id, name)."""
    ids = range(1, dataset.EVENT_NAMES + 1)
    popular = max(ids, key=catalog.event_share)
    rare = min(ids, key=catalog.event_share)
    return {
        "popular": (popular, catalog.event_names[popular - 1]),
        "rare": (rare, catalog.event_names[rare - 1]),
    }


def raw_count(kind: str, url: str, event_id: int, start_ms: int, end_ms: int) -> int:
    """Events of one name in a time range, counted from the raw table (a full scan)."""
    if kind == "sqlite":
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            row = conn.execute(
                "SELECT count(*) FROM events WHERE event_id = ? AND time_ms >= ? AND time_ms < ?",
                (event_id, start_ms, end_ms),
            ).fetchone()
        finally:
            conn.close()
        return int(row[0])
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as pg:
        found = pg.execute(
            "SELECT count(*) FROM events WHERE event_id = %s AND time_ms >= %s AND time_ms < %s",
            (event_id, start_ms, end_ms),
        ).fetchone()
    assert found is not None
    return int(found[0])


def measure(
    port: int,
    key: str,
    query: dict[str, str],
    warmup: int,
    requests: int,
    rng: random.Random,
    path: str = "/events/data_series",
) -> Measured:
    """Sequential GETs on one keep-alive connection; latency = send to last body byte."""
    result = Measured()
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    headers = {"Authorization": f"Bearer {key}"}
    if query:
        path += "?" + urllib.parse.urlencode(query)
    try:
        for n in range(warmup + requests):
            started = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            body = response.read()
            elapsed = (time.perf_counter() - started) * 1000
            if response.status != 200:
                result.failures += 1
                result.failure_sample = f"{response.status} {body[:200]!r}"
                continue
            if n >= warmup:
                result.latencies_ms.append(elapsed)
            if n == warmup + requests - 1 and query:
                result.points_total = sum(p["count"] for p in json.loads(body)["data"])
            if rng.random() < 0.001:
                time.sleep(0.001)  # break up any accidental lock-step with the server's timers
    finally:
        conn.close()
    return result


def run_size(args: argparse.Namespace, events: int, kind: str) -> SizeRun:
    """Prefill (cached), copy, serve, measure every scenario, stop."""
    run = SizeRun(events, kind)
    built = prefill.sqlite_prefill(events, log)
    run.rollup_rows = built.rollup_rows
    meta = prefill_meta(built)
    catalog = dataset.make_catalog()
    name = f"heron_bench_series_{events}"
    if kind == "sqlite":
        url = f"sqlite:///{prefill.fresh_sqlite_copy(built, name)}"
    else:
        template = prefill.postgres_template(built, args.pg_url, log)
        url = prefill.fresh_postgres_copy(args.pg_url, template, name)
    env = dict(os.environ, HERON_DATABASE_URL=url, HERON_RATE_LIMITS="off")
    key = prefill.run_heron(["keys", "create", "--name", "series-bench", "--database", url], env)
    key = key.strip()
    port = servers.free_port()
    cli = prefill.heron_cli()
    assert cli is not None
    argv = [*cli, "serve", "--host", HOST, "--port", str(port), "--database", url]
    server = servers.ServerProcess(
        f"heron [{kind}, {events:,}]", argv, env, prefill.CACHE_DIR / "logs" / f"{name}.log"
    )
    ending_ms = meta["history_end_ms"]
    ending_at = datetime.fromtimestamp(ending_ms / 1000, UTC).isoformat(timespec="seconds")
    picked = chosen_events(catalog)
    rng = random.Random(events)
    try:
        server.start()
        server.wait_healthy(HOST, port)
        log(f"{kind} {events:,}: heron serving on port {port} (pid {server.pid})")
        database = "postgres" if kind == "postgresql" else None
        before = loadgen.CpuSnapshot.take(server.pid, database)
        run.healthz = measure(port, key, {}, args.warmup, args.requests, rng, "/healthz")
        log(
            f"  {'GET /healthz (floor)':<26} p50 {run.healthz.quantile(0.5):6.2f} ms"
            f"  p99 {run.healthz.quantile(0.99):6.2f} ms"
        )
        for scenario in SCENARIOS:
            query = {
                "event": picked[scenario.popularity][1],
                "length": str(args.length),
                "unit": scenario.unit,
                "ending_at": ending_at,
            }
            if scenario.with_app:
                query["app_id"] = catalog.app_api_ids[0]
            run.results[scenario] = measure(port, key, query, args.warmup, args.requests, rng)
            got = run.results[scenario]
            log(
                f"  {scenario.label:<26} p50 {got.quantile(0.5):6.2f} ms"
                f"  p99 {got.quantile(0.99):6.2f} ms  (sum of points {got.points_total:,})"
            )
        after = loadgen.CpuSnapshot.take(server.pid, database)
        wall = after.at - before.at
        run.server_cores = (after.server - before.server) / wall
        run.database_cores = (after.database - before.database) / wall
        client = (after.client - before.client) / wall
        busy = (after.machine_busy - before.machine_busy) / wall
        run.other_cores = max(0.0, busy - client - run.server_cores - run.database_cores)
    finally:
        code = server.stop()
        if code not in (0, None, -signal.SIGTERM):
            log(f"server exit code {code}; log {server.log_path}")
    # Sanity: the popular event's 100-day series adds up to its raw rows in those days.
    day_all = run.results[Scenario("day", "popular", False)]
    end_day_ms = (ending_ms // 86_400_000 + 1) * 86_400_000
    start_ms = end_day_ms - args.length * 86_400_000
    expected = raw_count(kind, url, picked["popular"][0], start_ms, end_day_ms)
    verdict = "ok" if expected == day_all.points_total else "MISMATCH"
    run.check = (
        f"popular day series total {day_all.points_total:,} vs raw rows {expected:,}: {verdict}"
    )
    if kind == "sqlite":
        copy = Path(url.removeprefix("sqlite:///"))
        prefill.remove_sqlite(copy)
        for lock in (".writelock", ".purgelock"):  # heron's lock files next to the database
            copy.with_name(copy.name + lock).unlink(missing_ok=True)
    else:
        prefill.drop_postgres(args.pg_url, name)
    return run


def report(runs: list[SizeRun], args: argparse.Namespace, machine_lines: list[str]) -> list[str]:
    """The summary: per kind, a table of p50/p99 per scenario and size, then the verdicts."""
    lines = ["", "=" * 96, "GET /events/data_series over HTTP (1 connection, sequential)", ""]
    lines += machine_lines
    lines.append(
        f"series: length {args.length}, ending at the prefill's newest event; popular = most"
        " frequent of 500 names (Zipf s=1), rare = least frequent; app_id = the busiest of 10 apps"
    )
    lines.append(
        f"{args.requests} measured requests per scenario after {args.warmup} warm-up;"
        " latency = request sent to last body byte, client on the same machine"
    )
    for kind in sorted({r.kind for r in runs}):
        sized = sorted((r for r in runs if r.kind == kind), key=lambda r: r.events)
        lines += ["", f"[{kind}]"]
        for r in sized:
            lines.append(
                f"  {r.events:>12,} events  {r.rollup_rows:,} hourly rollup rows;"
                f" server {r.server_cores:.2f} cores, db {r.database_cores:.2f},"
                f" other processes {r.other_cores:.2f}"
                + (
                    "  (NOISY: numbers may be inflated)"
                    if r.other_cores > NOISY_OTHER_CORES
                    else ""
                )
            )
            lines.append(f"  {'':>12}         check: {r.check}")
            lines.append(
                f"  {'':>12}         floor: GET /healthz p50 {r.healthz.quantile(0.5):.2f} ms,"
                f" p99 {r.healthz.quantile(0.99):.2f} ms (no auth, no database)"
            )
        header = f"  {'scenario':<28}" + "".join(
            f"{f'{r.events / 1e6:g}M p50':>11}{f'{r.events / 1e6:g}M p99':>11}" for r in sized
        )
        lines += ["", header + f"{'p99 ratio':>11}  verdict"]
        for scenario in SCENARIOS:
            cells = ""
            p99s = []
            failures = 0
            for r in sized:
                got = r.results.get(scenario, Measured())
                cells += f"{got.quantile(0.5):>8.2f} ms{got.quantile(0.99):>8.2f} ms"
                p99s.append(got.quantile(0.99))
                failures += got.failures
            ratio = p99s[-1] / p99s[0] if len(p99s) > 1 and p99s[0] > 0 else float("nan")
            fast = all(p < TARGET_P99_MS for p in p99s)
            flat = len(p99s) < 2 or ratio <= TARGET_GROWTH
            verdict = "PASS" if fast and flat and not failures else "MISS"
            why = [] if fast else [f"p99 >= {TARGET_P99_MS:g} ms"]
            why += [] if flat else [f"ratio > {TARGET_GROWTH:g}"]
            why += [f"{failures} failed requests"] if failures else []
            lines.append(
                f"  {scenario.label:<28}{cells}{ratio:>10.2f}x  {verdict}"
                + (f" ({', '.join(why)})" if why else "")
            )
    lines.append("")
    lines.append(
        f"targets: p99 < {TARGET_P99_MS:g} ms at every size; p99 at the largest size within"
        f" {TARGET_GROWTH:g}x of the smallest (PASS/MISS; a miss never fails the run)"
    )
    return lines


def main(argv: list[str]) -> int:
    """Run every size on every chosen database kind and print the figures."""
    args = parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    kinds = ["sqlite", "postgresql"] if args.database_kind == "both" else [args.database_kind]
    machine_lines = [f"{label:<10}{value}" for label, value in machine.describe(prefill.CACHE_DIR)]
    for line in machine_lines:
        log(line)
    runs = []
    for kind in kinds:
        for events in sizes:
            runs.append(run_size(args, events, kind))
    lines = report(runs, args, machine_lines)
    print("\n".join(lines), flush=True)
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    {
                        "kind": r.kind,
                        "events": r.events,
                        "check": r.check,
                        "other_cores": r.other_cores,
                        "scenarios": {
                            s.label: {
                                "p50_ms": m.quantile(0.5),
                                "p99_ms": m.quantile(0.99),
                                "failures": m.failures,
                            }
                            for s, m in r.results.items()
                        },
                    }
                    for r in runs
                ],
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
