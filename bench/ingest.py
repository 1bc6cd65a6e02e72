"""Ingest benchmark: heron's `POST /users/track` over HTTP on a prefilled database vs a bare app."""

# Run: `.venv/bin/python bench/ingest.py` (see `--help` and bench/README.md); prints its figures.

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from benchlib import dataset, loadgen, machine, prefill, servers  # noqa: E402

HOST = "127.0.0.1"
TARGET_OBJECTS_PER_S = 100_000.0
TARGET_P99_MS = 100.0
TARGET_RATIO = 1.0
NOISY_OTHER_CORES = 0.25
PG_HERON_DB = "heron_bench"
PG_BASELINE_DB = "heron_bench_baseline"


def log(message: str) -> None:
    """Print a progress line with a timestamp (flushed, so it interleaves with server logs)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass(slots=True)
class Side:
    """One server measured on one database kind, and what came of it."""

    name: str  # "heron" or "baseline"
    kind: str  # "sqlite" or "postgresql"
    workers: int
    settings: str
    load: loadgen.LoadResult | None = None
    rss: servers.RssPeak | None = None
    stored_rows: int | None = None
    rollup_total: int | None = None
    failure: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """E.g. `heron [sqlite, 1 worker]`."""
        return f"{self.name} [{self.kind}, {self.workers} worker{'s' if self.workers > 1 else ''}]"


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description="heron ingest benchmark (prints figures; never fails on a missed target)"
    )
    parser.add_argument(
        "--database-kind", choices=("sqlite", "postgresql", "both"), default="sqlite"
    )
    parser.add_argument("--prefill", type=int, default=10_000_000, help="events already stored")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    parser.add_argument(
        "--warmup", type=float, default=5.0, help="seconds of load before measuring"
    )
    parser.add_argument("--concurrency", type=int, default=32, help="client connections")
    parser.add_argument(
        "--workers", type=int, default=1, help="server worker processes (both sides)"
    )
    parser.add_argument("--bodies", type=int, default=1000, help="distinct request bodies, cycled")
    parser.add_argument(
        "--synchronous",
        choices=("OFF", "NORMAL", "FULL", "EXTRA"),
        default="FULL",
        help="SQLite synchronous level for both sides (heron's default is FULL)",
    )
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--skip-heron", action="store_true")
    parser.add_argument(
        "--max-requests", type=int, default=5_000_000, help="hard bound on requests sent per side"
    )
    parser.add_argument("--grace", type=float, default=30.0, help="seconds allowed to drain")
    parser.add_argument("--pg-url", default="postgresql+psycopg://127.0.0.1:5432/")
    parser.add_argument("--keep-databases", action="store_true", help="keep the run copies")
    parser.add_argument("--build-cache-only", action="store_true", help="build the prefill, exit")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.prefill < 0 or args.duration <= 0 or args.concurrency < 1 or args.workers < 1:
        parser.error("--prefill >= 0, --duration > 0, --concurrency >= 1, --workers >= 1")
    return args


class Bench:
    """Runs the sides one after another on fresh copies of the same prefilled database."""

    def __init__(self, args: argparse.Namespace) -> None:
        """Keep the arguments; nothing is built yet."""
        self.args = args
        self.prefill: prefill.Prefill | None = None
        self.bodies: list[bytes] = []
        self.pg_template: str | None = None
        self.pg_version: str | None = None
        self.sides: list[Side] = []

    def kinds(self) -> list[str]:
        """The database kinds to measure."""
        kind = str(self.args.database_kind)
        return ["sqlite", "postgresql"] if kind == "both" else [kind]

    def prepare(self) -> None:
        """Build or reuse the prefill cache and build the request bodies."""
        self.prefill = prefill.sqlite_prefill(self.args.prefill, log)
        log(
            f"prefill: {self.prefill.path.name}, {self.prefill.size_bytes / 1e9:.2f} GB,"
            f" {'built now' if self.prefill.built_now else 'reused'}"
            f" (build took {self.prefill.build_seconds:.0f} s)"
        )
        catalog = dataset.make_catalog()
        self.bodies = dataset.build_bodies(catalog, self.args.bodies, time.time_ns() // 1_000_000)

    def run(self) -> None:
        """Measure every requested side of every requested kind."""
        for kind in self.kinds():
            if kind == "postgresql":
                try:
                    assert self.prefill is not None
                    self.pg_version = prefill.pg_server_version(self.args.pg_url)
                    self.pg_template = prefill.postgres_template(
                        self.prefill, self.args.pg_url, log
                    )
                except Exception as exc:
                    for name in self._names():
                        side = Side(name, kind, self.args.workers, "")
                        side.failure = f"PostgreSQL prefill failed: {exc!r}"
                        self.sides.append(side)
                    traceback.print_exc()
                    continue
            for name in self._names():
                side = Side(name, kind, self.args.workers, self._settings(name, kind))
                self.sides.append(side)
                try:
                    self._measure(side)
                except Exception as exc:
                    side.failure = f"{type(exc).__name__}: {exc}"
                    log(f"{side.label} FAILED: {side.failure}")
                    traceback.print_exc()

    def _names(self) -> list[str]:
        """Which servers to run, baseline first (it is the reference)."""
        names = [] if self.args.skip_baseline else ["baseline"]
        return names if self.args.skip_heron else [*names, "heron"]

    def _settings(self, name: str, kind: str) -> str:
        """A one-line description of the server's configuration."""
        if kind == "sqlite":
            storage = f"SQLite WAL, synchronous={self.args.synchronous}"
        else:
            storage = f"PostgreSQL {self.pg_version or ''}".strip()
        if name.startswith("heron"):
            return f"heron serve, {storage}, HERON_RATE_LIMITS=off"
        return f"raw ASGI + uvicorn (uvloop, httptools) + orjson, {storage}, one txn per request"

    def prepare_database(self, side: Side, url: str) -> None:
        """Hook for benchmarks built on this one (bench/segments.py): adjust a fresh copy."""

    def after_load(self, side: Side, url: str) -> None:
        """Hook: look at a side's database after its server stopped, before it is removed."""

    def _measure(self, side: Side) -> None:
        """Prepare a fresh database, start the server, load it, stop it and check what it stored."""
        assert self.prefill is not None
        run_name = f"{side.name}-{side.kind}-{os.getpid()}"
        cleanup: Callable[[], None]
        if side.kind == "sqlite":
            path = prefill.fresh_sqlite_copy(self.prefill, run_name)
            url = f"sqlite:///{path}"
            baseline_url = url

            def stored() -> tuple[int, int]:
                """Rows stored in the SQLite copy."""
                assert self.prefill is not None
                return prefill.sqlite_stored(path, self.prefill)

            def cleanup() -> None:
                """Delete the SQLite copy."""
                prefill.remove_sqlite(path)

        else:
            assert self.pg_template is not None
            dbname = PG_HERON_DB if side.name == "heron" else PG_BASELINE_DB
            url = prefill.fresh_postgres_copy(self.args.pg_url, self.pg_template, dbname)
            baseline_url = prefill.pg_conninfo(self.args.pg_url, dbname)

            def stored() -> tuple[int, int]:
                """Rows stored in the PostgreSQL copy."""
                assert self.prefill is not None
                return prefill.postgres_stored(self.args.pg_url, dbname, self.prefill)

            def cleanup() -> None:
                """Drop the PostgreSQL copy."""
                prefill.drop_postgres(self.args.pg_url, dbname)

        self.prepare_database(side, url)
        log(f"{side.label}: fresh database ready ({url})")
        port = servers.free_port()
        env = dict(os.environ)
        if side.name.startswith("heron"):
            env.update(
                HERON_DATABASE_URL=url,
                HERON_RATE_LIMITS="off",
                HERON_SQLITE_SYNCHRONOUS=self.args.synchronous,
            )
            api_key = prefill.run_heron(
                ["keys", "create", "--name", "bench", "--database", url], env
            )
            api_key = api_key.strip()
            cli = prefill.heron_cli()
            assert cli is not None
            argv = [*cli, "serve", "--host", HOST, "--port", str(port), "--database", url]
            argv += ["--workers", str(side.workers)]
        else:
            api_key = "bench-baseline-key"
            env.update(
                BENCH_BASELINE_DATABASE=baseline_url,
                BENCH_BASELINE_SYNCHRONOUS=self.args.synchronous,
                BENCH_BASELINE_API_KEY=api_key,
            )
            argv = [
                sys.executable, "-m", "uvicorn", "baseline_app:app", "--app-dir", str(BENCH_DIR),
                "--host", HOST, "--port", str(port), "--workers", str(side.workers),
                "--loop", "uvloop", "--http", "httptools", "--no-access-log",
                "--log-level", "warning", "--lifespan", "on",
            ]  # fmt: skip
        server = servers.ServerProcess(
            side.label, argv, env, prefill.CACHE_DIR / "logs" / f"{run_name}.log"
        )
        try:
            server.start()
            server.wait_healthy(HOST, port)
            log(f"{side.label}: serving on port {port} (pid {server.pid}); load starts")
            config = loadgen.LoadConfig(
                host=HOST,
                port=port,
                requests=loadgen.build_requests(HOST, port, "/users/track", api_key, self.bodies),
                objects_per_request=dataset.EVENTS_PER_REQUEST,
                concurrency=self.args.concurrency,
                warmup_s=self.args.warmup,
                duration_s=self.args.duration,
                grace_s=self.args.grace,
                max_requests=self.args.max_requests,
                database_process="postgres" if side.kind == "postgresql" else None,
            )
            with servers.RssSampler(server.pid) as sampler:
                side.load = loadgen.run_load(config, server.pid)
            side.rss = sampler.result
            log(f"{side.label}: {side.load.objects_per_s:,.0f} objects/s; stopping server")
        finally:
            code = server.stop()
            # uvicorn re-raises SIGTERM after a graceful shutdown, so -SIGTERM is a clean exit.
            if code not in (0, None, -signal.SIGTERM):
                side.notes.append(f"server exit code {code}; log {server.log_path}")
        try:
            side.stored_rows, side.rollup_total = stored()
            self.after_load(side, url)
        finally:
            if not self.args.keep_databases:
                cleanup()


def _ms(value: float) -> str:
    """Milliseconds, two decimals."""
    return "n/a" if math.isnan(value) else f"{value:.2f} ms"


def side_lines(side: Side, prefilled: int) -> list[str]:
    """The summary lines for one side."""
    lines = [f"{side.label}", f"  settings        {side.settings}"]
    if side.failure is not None:
        return [*lines, f"  FAILED          {side.failure}"]
    load = side.load
    assert load is not None
    client, server, database, other = load.cpu_cores()
    lines += [
        f"  acknowledged    {load.objects_per_s:,.0f} objects/s"
        f"  ({load.requests_per_s:,.0f} requests/s, {load.window_objects:,} objects"
        f" in {load.config.duration_s:g} s)",
        f"  latency         p50 {_ms(load.latency_ms(0.50))}   p90 {_ms(load.latency_ms(0.90))}"
        f"   p99 {_ms(load.latency_ms(0.99))}   max {_ms(load.latency_ms(1.0))}",
        f"  failures        {sum(load.errors.values())} (of {load.sent:,} requests sent)",
    ]
    for kind, count in load.errors.most_common():
        lines.append(f"    {count:>8,} x {kind}: {load.error_samples.get(kind, '')[:160]!r}")
    if load.stopped_by_bound:
        lines.append("  NOTE            hit the hard time bound; in-flight requests were cancelled")
    if side.rss is not None:
        lines.append(
            f"  peak RSS        {side.rss.peak_bytes / 2**20:,.0f} MiB"
            f" ({side.rss.peak_processes} process{'es' if side.rss.peak_processes > 1 else ''},"
            f" {side.rss.samples} samples)"
        )
    db_cpu = f", PostgreSQL {database:.2f}" if side.kind == "postgresql" else ""
    lines.append(
        f"  CPU (cores)     server {server:.2f}{db_cpu}, load client {client:.2f},"
        f" other processes {other:.2f}"
    )
    if side.stored_rows is not None and side.rollup_total is not None:
        durable = "OK" if side.stored_rows >= load.total_objects else "LOST ACKNOWLEDGED EVENTS"
        rollup = "OK" if side.rollup_total == prefilled + side.stored_rows else "MISMATCH"
        lines.append(
            f"  stored          {side.stored_rows:,} new rows for {load.total_objects:,}"
            f" acknowledged: {durable}; all-apps rollup total {side.rollup_total:,}: {rollup}"
        )
    if other > NOISY_OTHER_CORES:
        lines.append(
            f"  WARNING         other processes used {other:.2f} cores during the window:"
            " the machine was shared, so these figures understate this side"
        )
    lines += [f"  note            {note}" for note in side.notes]
    return lines


def _verdict(ok: bool | None) -> str:
    """PASS, MISS or n/a."""
    return "n/a " if ok is None else ("PASS" if ok else "MISS")


def summarize(
    bench: Bench, argv: list[str], machine_lines: list[tuple[str, str]]
) -> dict[str, Any]:
    """Print the final summary block and return the same figures as a dict."""
    assert bench.prefill is not None
    args = bench.args
    pre = bench.prefill
    catalog = dataset.make_catalog()
    shares = sorted(
        (catalog.event_share(i) for i in range(1, dataset.EVENT_NAMES + 1)), reverse=True
    )
    body_kib = sum(map(len, bench.bodies)) / len(bench.bodies) / 1024
    out = ["", "=" * 100, "heron ingest benchmark: summary", "=" * 100]
    out.append("command    " + shlex.join([sys.executable, *sys.argv]))
    out += [f"{label:<10} {value}" for label, value in machine_lines]
    if bench.pg_version:
        out.append(f"{'postgres':<10} {bench.pg_version}")
    out += [
        f"dataset    {pre.events:,} prefilled events, {dataset.USERS:,} users,"
        f" {dataset.EVENT_NAMES} event names (Zipf s={dataset.ZIPF_EXPONENT}: top name"
        f" {shares[0]:.1%}, top 10 {sum(shares[:10]):.1%}), {dataset.APPS} apps,"
        f" {pre.rollup_rows:,} hourly rollup rows",
        f"           cache {pre.path} ({pre.size_bytes / 1e9:.2f} GB,"
        f" schema via {pre.schema_mode}, {'built in this run' if pre.built_now else 'reused'};"
        f" build took {pre.build_seconds:.0f} s)",
        f"load       {args.concurrency} keep-alive connections, {len(bench.bodies)} distinct"
        f" bodies of {dataset.EVENTS_PER_REQUEST} events ({body_kib:.1f} KiB avg),"
        f" warm-up {args.warmup:g} s, measured {args.duration:g} s,"
        " client on uvloop on the same machine",
        "",
    ]
    figures: dict[str, Any] = {"command": [sys.executable, *sys.argv], "sides": []}
    for side in bench.sides:
        out += [*side_lines(side, pre.events), ""]
        figures["sides"].append(_side_figures(side))
    for kind in bench.kinds():
        heron = _find(bench.sides, "heron", kind)
        base = _find(bench.sides, "baseline", kind)
        ratio = None
        if heron and base and heron.load and base.load and base.load.objects_per_s > 0:
            ratio = heron.load.objects_per_s / base.load.objects_per_s
            out.append(f"ratio heron/baseline [{kind}]: {ratio:.2f}")
        if kind != "sqlite":
            out.append(f"targets [{kind}]: none (figures only)")
            continue
        rate = heron.load.objects_per_s if heron and heron.load else None
        p99 = heron.load.latency_ms(0.99) if heron and heron.load else None
        out += [
            "targets [sqlite] for heron:",
            f"  {_verdict(None if rate is None else rate >= TARGET_OBJECTS_PER_S)}"
            f"  >= {TARGET_OBJECTS_PER_S:,.0f} acknowledged events/s"
            f"  ({'n/a' if rate is None else f'{rate:,.0f}'})",
            f"  {_verdict(None if p99 is None else p99 < TARGET_P99_MS)}"
            f"  p99 < {TARGET_P99_MS:g} ms  ({'n/a' if p99 is None else _ms(p99)})",
            f"  {_verdict(None if ratio is None else ratio >= TARGET_RATIO)}"
            f"  ratio to baseline >= {TARGET_RATIO:g}"
            f"  ({'n/a' if ratio is None else f'{ratio:.2f}'})",
        ]
        figures[f"ratio_{kind}"] = ratio
    out.append("=" * 100)
    print("\n".join(out), flush=True)
    figures["machine"] = dict(machine_lines)
    figures["prefill"] = {"events": pre.events, "path": str(pre.path), "bytes": pre.size_bytes}
    return figures


def _find(sides: list[Side], name: str, kind: str) -> Side | None:
    """The side with this name and kind, if it ran."""
    return next((s for s in sides if s.name == name and s.kind == kind), None)


def _side_figures(side: Side) -> dict[str, Any]:
    """One side's figures as plain data."""
    figures: dict[str, Any] = {"name": side.name, "kind": side.kind, "workers": side.workers}
    figures["failure"] = side.failure
    if side.load is not None:
        load = side.load
        figures.update(
            objects_per_s=load.objects_per_s,
            requests_per_s=load.requests_per_s,
            p50_ms=load.latency_ms(0.5),
            p99_ms=load.latency_ms(0.99),
            failures=sum(load.errors.values()),
            errors=dict(load.errors),
            cpu_cores=dict(
                zip(("client", "server", "database", "other"), load.cpu_cores(), strict=True)
            ),
        )
    if side.rss is not None:
        figures["peak_rss_bytes"] = side.rss.peak_bytes
    figures["stored_rows"] = side.stored_rows
    return figures


def main(argv: list[str]) -> int:
    """Run the benchmark; exit 1 only when the harness itself failed."""
    args = parse_args(argv)
    machine_lines = machine.describe(prefill.CACHE_DIR.parent)
    log("heron ingest benchmark: " + shlex.join([sys.executable, *sys.argv]))
    bench = Bench(args)
    try:
        bench.prepare()
    except Exception:
        traceback.print_exc()
        log("prefill failed")
        return 1
    if args.build_cache_only:
        return 0
    bench.run()
    figures = summarize(bench, argv, machine_lines)
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2, default=str))
    return 1 if any(side.failure for side in bench.sides) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
