"""Series benchmark: `GET /events/data_series` latency over HTTP at 1M and 10M stored events."""

# Run: `.venv/bin/python bench/series.py` (see `--help`); prints its figures, never fails on a miss.
# Every size has its own server, all up at once; each scenario alternates between them in
# small blocks, so machine drift (writeback, timers) lands on every size alike and the p99
# ratio measures data size, not when each size happened to run.

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
    other_cores: float = float("nan")  # everything but the servers, the database and the client
    server_cores: float = float("nan")  # this size's server alone
    database_cores: float = float("nan")  # the database's processes (shared by every size)
    client_cores: float = float("nan")


@dataclass(slots=True)
class Side:
    """One size's server under test: its fresh database copy, API key and port."""

    run: SizeRun
    url: str
    name: str
    key: str
    port: int
    server: servers.ServerProcess
    meta: dict[str, int]


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
    parser.add_argument("--requests", type=int, default=8000, help="measured per scenario and size")
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured per scenario and size")
    parser.add_argument(
        "--block", type=int, default=25, help="requests to one size before the next size's turn"
    )
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


class Probe:
    """One keep-alive connection repeating one GET to one server, timing each request."""

    def __init__(self, port: int, key: str, path: str, query: dict[str, str]) -> None:
        """Prepare `GET path?query` on `port`; the connection opens on the first request."""
        self.conn = http.client.HTTPConnection(HOST, port, timeout=30)
        self.headers = {"Authorization": f"Bearer {key}"}
        self.target = path + ("?" + urllib.parse.urlencode(query) if query else "")
        self.last_body = b""

    def send(self, count: int, into: Measured, record: bool, rng: random.Random) -> None:
        """Send `count` sequential requests; latency = send to last body byte (kept if record)."""
        for _ in range(count):
            started = time.perf_counter()
            self.conn.request("GET", self.target, headers=self.headers)
            response = self.conn.getresponse()
            body = response.read()
            elapsed = (time.perf_counter() - started) * 1000
            if response.status != 200:
                into.failures += 1
                into.failure_sample = f"{response.status} {body[:200]!r}"
                continue
            self.last_body = body
            if record:
                into.latencies_ms.append(elapsed)
            if rng.random() < 0.001:
                time.sleep(0.001)  # break up any accidental lock-step with the server's timers

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


def measure_paired(
    sides: list[Side],
    queries: list[dict[str, str]],
    args: argparse.Namespace,
    rng: random.Random,
    first: int,
    path: str = "/events/data_series",
) -> list[Measured]:
    """One GET per size, alternating between the sizes' servers in blocks of `--block`.

    Every server gets its own keep-alive connection and its warm-up before any measured
    request; then the sizes take turns round-robin, starting at index `first`, so each
    sees the same machine conditions. Latencies are kept per size.
    """
    probes = [
        Probe(side.port, side.key, path, query) for side, query in zip(sides, queries, strict=True)
    ]
    results = [Measured() for _ in sides]
    order = [(first + i) % len(sides) for i in range(len(sides))]
    try:
        for i in order:
            probes[i].send(args.warmup, results[i], False, rng)
        done = 0
        while done < args.requests:
            block = min(args.block, args.requests - done)
            for i in order:
                probes[i].send(block, results[i], True, rng)
            done += block
    finally:
        for probe in probes:
            probe.close()
    for probe, query, got in zip(probes, queries, results, strict=True):
        if query and probe.last_body:
            got.points_total = sum(p["count"] for p in json.loads(probe.last_body)["data"])
    return results


@dataclass(slots=True)
class CpuCounters:
    """CPU seconds used so far by each server tree, plus the client, database and machine."""

    shared: loadgen.CpuSnapshot  # its `server` field (the first server's) is not used
    servers: list[float]

    @classmethod
    def take(cls, pids: list[int], database_process: str | None) -> CpuCounters:
        """Read the counters now."""
        shared = loadgen.CpuSnapshot.take(pids[0], database_process)
        return cls(shared, [servers.tree_cpu_seconds(pid) for pid in pids])


def start_side(args: argparse.Namespace, events: int, kind: str) -> Side:
    """Prefill (cached), make a fresh copy, create a key and start a server on it."""
    run = SizeRun(events, kind)
    built = prefill.sqlite_prefill(events, log)
    run.rollup_rows = built.rollup_rows
    name = f"heron_bench_series_{events}"
    if kind == "sqlite":
        url = f"sqlite:///{prefill.fresh_sqlite_copy(built, name)}"
    else:
        template = prefill.postgres_template(built, args.pg_url, log)
        url = prefill.fresh_postgres_copy(args.pg_url, template, name)
    env = dict(os.environ, HERON_DATABASE_URL=url, HERON_RATE_LIMITS="off")
    key = prefill.run_heron(["keys", "create", "--name", "series-bench", "--database", url], env)
    port = servers.free_port()
    cli = prefill.heron_cli()
    assert cli is not None
    argv = [*cli, "serve", "--host", HOST, "--port", str(port), "--database", url]
    server = servers.ServerProcess(
        f"heron [{kind}, {events:,}]", argv, env, prefill.CACHE_DIR / "logs" / f"{name}.log"
    )
    return Side(run, url, name, key.strip(), port, server, prefill_meta(built))


def remove_copy(args: argparse.Namespace, side: Side) -> None:
    """Delete a size's copy of the database (after its server stopped)."""
    if side.run.kind == "sqlite":
        copy = Path(side.url.removeprefix("sqlite:///"))
        prefill.remove_sqlite(copy)
        for lock in (".writelock", ".purgelock"):  # heron's lock files next to the database
            copy.with_name(copy.name + lock).unlink(missing_ok=True)
    else:
        prefill.drop_postgres(args.pg_url, side.name)


def scenario_query(
    args: argparse.Namespace,
    catalog: dataset.Catalog,
    picked: dict[str, tuple[int, str]],
    scenario: Scenario,
    side: Side,
) -> dict[str, str]:
    """The series request of one scenario, ending at this size's newest prefilled event."""
    ending_ms = side.meta["history_end_ms"]
    query = {
        "event": picked[scenario.popularity][1],
        "length": str(args.length),
        "unit": scenario.unit,
        "ending_at": datetime.fromtimestamp(ending_ms / 1000, UTC).isoformat(timespec="seconds"),
    }
    if scenario.with_app:
        query["app_id"] = catalog.app_api_ids[0]
    return query


def check_sums(args: argparse.Namespace, side: Side, popular_id: int) -> str:
    """Sanity: the popular event's 100-day series adds up to its raw rows in those days."""
    day_all = side.run.results[Scenario("day", "popular", False)]
    end_day_ms = (side.meta["history_end_ms"] // 86_400_000 + 1) * 86_400_000
    start_ms = end_day_ms - args.length * 86_400_000
    expected = raw_count(side.run.kind, side.url, popular_id, start_ms, end_day_ms)
    verdict = "ok" if expected == day_all.points_total else "MISMATCH"
    return f"popular day series total {day_all.points_total:,} vs raw rows {expected:,}: {verdict}"


def log_row(label: str, sides: list[Side], got: list[Measured]) -> None:
    """One progress line: a scenario's p50/p99 at every size."""
    cells = "  ".join(
        f"{side.run.events / 1e6:g}M p50 {m.quantile(0.5):6.2f} p99 {m.quantile(0.99):6.2f} ms"
        + (f" (sum {m.points_total:,})" if m.points_total else "")
        for side, m in zip(sides, got, strict=True)
    )
    log(f"  {label:<26} {cells}")


def run_kind(args: argparse.Namespace, sizes: list[int], kind: str) -> list[SizeRun]:
    """Start every size's server at once, measure each scenario paired across them, stop."""
    catalog = dataset.make_catalog()
    picked = chosen_events(catalog)
    rng = random.Random(sum(sizes))
    sides: list[Side] = []
    try:
        for events in sizes:
            sides.append(start_side(args, events, kind))
            sides[-1].server.start()
        for side in sides:
            side.server.wait_healthy(HOST, side.port)
            log(f"{kind} {side.run.events:,}: heron on port {side.port} (pid {side.server.pid})")
        database = "postgres" if kind == "postgresql" else None
        before = CpuCounters.take([side.server.pid for side in sides], database)
        floors = measure_paired(sides, [{} for _ in sides], args, rng, 0, "/healthz")
        for side, got in zip(sides, floors, strict=True):
            side.run.healthz = got
        log_row("GET /healthz (floor)", sides, floors)
        for number, scenario in enumerate(SCENARIOS, start=1):
            queries = [scenario_query(args, catalog, picked, scenario, side) for side in sides]
            measured = measure_paired(sides, queries, args, rng, number % len(sides))
            for side, got in zip(sides, measured, strict=True):
                side.run.results[scenario] = got
            log_row(scenario.label, sides, measured)
        after = CpuCounters.take([side.server.pid for side in sides], database)
    finally:
        for side in sides:
            code = side.server.stop()
            if code not in (0, None, -signal.SIGTERM):
                log(f"server exit code {code}; log {side.server.log_path}")
    old, new = before.shared, after.shared
    wall = new.at - old.at
    database_cores = (new.database - old.database) / wall
    client_cores = (new.client - old.client) / wall
    busy = (new.machine_busy - old.machine_busy) / wall
    for side, start, end in zip(sides, before.servers, after.servers, strict=True):
        side.run.server_cores = (end - start) / wall
    servers_cores = sum(side.run.server_cores for side in sides)
    other = max(0.0, busy - client_cores - servers_cores - database_cores)
    for side in sides:
        side.run.database_cores = database_cores
        side.run.client_cores = client_cores
        side.run.other_cores = other
    try:
        for side in sides:
            side.run.check = check_sums(args, side, picked["popular"][0])
    finally:
        for side in sides:
            remove_copy(args, side)
    return [side.run for side in sides]


def report(runs: list[SizeRun], args: argparse.Namespace, machine_lines: list[str]) -> list[str]:
    """The summary: per kind, a table of p50/p99 per scenario and size, then the verdicts."""
    lines = ["", "=" * 96, "GET /events/data_series over HTTP, every size's server up at once", ""]
    lines += machine_lines
    lines.append(
        f"series: length {args.length}, ending at the prefill's newest event; popular = most"
        " frequent of 500 names (Zipf s=1), rare = least frequent; app_id = the busiest of 10 apps"
    )
    lines.append(
        f"{args.requests} measured requests per scenario and size after {args.warmup} warm-up"
        f" each; sequential, one keep-alive connection per size, the sizes taking turns in"
        f" blocks of {args.block}; latency = request sent to last body byte, client on the same"
        " machine"
    )
    for kind in sorted({r.kind for r in runs}):
        sized = sorted((r for r in runs if r.kind == kind), key=lambda r: r.events)
        lines += ["", f"[{kind}]"]
        shared = sized[0]
        noisy = shared.other_cores > NOISY_OTHER_CORES
        lines.append(
            "  CPU while measuring (cores): servers "
            + ", ".join(f"{r.events / 1e6:g}M {r.server_cores:.2f}" for r in sized)
            + (f"; db {shared.database_cores:.2f}" if kind == "postgresql" else "")
            + f"; this client {shared.client_cores:.2f}; other processes {shared.other_cores:.2f}"
            + ("  (NOISY: numbers may be inflated)" if noisy else "")
        )
        for r in sized:
            lines.append(f"  {r.events:>12,} events  {r.rollup_rows:,} hourly rollup rows")
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
            for r in sized:
                got = r.results.get(scenario, Measured())
                if got.failures:
                    lines.append(f"  {'':<28}{r.events:,}: e.g. {got.failure_sample}")
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
    if args.requests < 1 or args.warmup < 0 or args.block < 1:
        raise SystemExit("--requests and --block must be >= 1, --warmup >= 0")
    if not sizes or len(set(sizes)) != len(sizes):
        raise SystemExit("--sizes needs one or more different sizes")  # one copy per size
    runs = []
    for kind in kinds:
        runs += run_kind(args, sizes, kind)
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
                        "block": args.block,
                        "server_cores": r.server_cores,
                        "database_cores": r.database_cores,
                        "other_cores": r.other_cores,
                        "healthz_p99_ms": r.healthz.quantile(0.99),
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
