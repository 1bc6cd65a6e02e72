"""`heron import` benchmark: a 1-million-event NDJSON file into a real `heron serve`, events/s.

Run: `.venv/bin/python bench/import.py` (see `--help`). It builds (once, cached in
bench/.cache) an NDJSON file of events shaped like bench/ingest.py's bodies (100,000 users,
500 Zipf-popular names, 10 apps, 5 properties), starts `heron serve` on a fresh copy of the
same prefilled SQLite database as bench/ingest.py, runs the real `heron import` command (with
its progress bar) against it, and prints the acknowledged events/s and whether the stored rows
match. The target of issue 7 is at least 0.70 of bench/ingest.py's throughput: with
`--compare SECONDS` (default 20) the same server is first driven by bench/ingest.py's raw load
generator (32 connections, 75-event bodies) for that long, so the ratio is taken under the
same machine conditions; it is also printed against the figure in docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from benchlib import dataset, loadgen, machine, prefill, servers  # noqa: E402

HOST = "127.0.0.1"
REFERENCE_EVENTS_PER_S = 21_631.0  # docs/performance.md: bench/ingest.py, idle, 2 workers
TARGET_RATIO = 0.70
FILE_VERSION = 2


def log(message: str) -> None:
    """A timestamped progress line."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def events_file(count: int) -> Path:
    """The cached NDJSON file of `count` events (built on first use)."""
    path = prefill.CACHE_DIR / f"import-events-{count}-v{FILE_VERSION}.ndjson"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    log(f"building {path.name} ...")
    catalog = dataset.make_catalog()
    rng = random.Random(11)
    now_ms = time.time_ns() // 1_000_000
    temporary = path.with_suffix(".tmp")
    with temporary.open("wb") as stream:
        names = rng.choices(range(dataset.EVENT_NAMES), catalog.event_cum_weights, k=count)
        apps = rng.choices(range(dataset.APPS), catalog.app_cum_weights, k=count)
        for name, app in zip(names, apps, strict=True):
            event = {
                "external_id": f"user-{rng.randrange(1, dataset.USERS + 1)}",
                "app_id": catalog.app_api_ids[app],
                "name": catalog.event_names[name],
                # Within a minute, like bench/ingest.py's bodies: the same rollup keys per commit.
                "time": dataset.iso_time(now_ms - rng.randrange(60_000)),
                "properties": dataset.make_properties(rng),
            }
            stream.write(orjson.dumps(event) + b"\n")
    temporary.replace(path)
    return path


def main(argv: list[str]) -> int:
    """Build, serve, import, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the file")
    parser.add_argument("--prefill", type=int, default=10_000_000, help="events already stored")
    parser.add_argument("--workers", type=int, default=2, help="heron serve workers")
    parser.add_argument("--concurrency", type=int, default=32, help="heron import --concurrency")
    parser.add_argument("--reference", type=float, default=REFERENCE_EVENTS_PER_S)
    parser.add_argument(
        "--file-bodies",
        action="store_true",
        help="also drive the raw load generator with bodies cut from the import file",
    )
    parser.add_argument(
        "--compare", type=float, default=20.0, help="seconds of raw load first (0: skip)"
    )
    args = parser.parse_args(argv)

    source = events_file(args.events)
    base = prefill.sqlite_prefill(args.prefill, log)
    run_name = f"import-{os.getpid()}"
    path = prefill.fresh_sqlite_copy(base, run_name)
    url = f"sqlite:///{path}"
    env = {**os.environ, "HERON_DATABASE_URL": url, "HERON_RATE_LIMITS": "off"}
    key = prefill.run_heron(["keys", "create", "--name", "bench", "--database", url], env).strip()
    cli = prefill.heron_cli()
    assert cli is not None
    port = servers.free_port()
    serve = [*cli, "serve", "--host", HOST, "--port", str(port), "--database", url]
    server = servers.ServerProcess(
        "heron", [*serve, "--workers", str(args.workers)], env,
        prefill.CACHE_DIR / "logs" / f"{run_name}.log",
    )  # fmt: skip
    checkpoint = source.with_name(f"{source.name}.{run_name}.checkpoint")
    command = [*cli, "import", str(source), "--url", f"http://{HOST}:{port}", "--api-key", key,
               "--concurrency", str(args.concurrency), "--checkpoint", str(checkpoint)]  # fmt: skip
    try:
        server.start()
        server.wait_healthy(HOST, port)
        log(f"heron serving on {port} ({args.workers} workers)")
        raw = None
        replayed = 0  # objects the load generator stored (not the import's)

        def raw_load(bodies: list[bytes]) -> loadgen.LoadResult:
            """bench/ingest.py's load generator on this server, replaying `bodies`."""
            return loadgen.run_load(
                loadgen.LoadConfig(
                    host=HOST,
                    port=port,
                    requests=loadgen.build_requests(HOST, port, "/users/track", key, bodies),
                    objects_per_request=dataset.EVENTS_PER_REQUEST,
                    concurrency=args.concurrency,
                    warmup_s=2.0,
                    duration_s=args.compare,
                    grace_s=30.0,
                    max_requests=5_000_000,
                ),
                server.pid,
            )

        if args.compare > 0:
            log(f"raw load generator (bench/ingest.py's) for {args.compare:g} s ...")
            now_ms = time.time_ns() // 10**6
            raw = raw_load(dataset.build_bodies(dataset.make_catalog(), 1000, now_ms))
            replayed += raw.total_objects
            log(f"raw load: {raw.objects_per_s:,.0f} events/s")
            if args.file_bodies:
                # the same generator replaying 1,000 bodies cut from the file itself
                records = source.read_bytes().split(b"\n", 75_000)[:75_000]
                cut = [
                    b'{"events":[' + b",".join(records[i : i + 75]) + b"]}"
                    for i in range(0, len(records), 75)
                ]
                from_file = raw_load(cut)
                replayed += from_file.total_objects
                log(f"raw load, the file's own events: {from_file.objects_per_s:,.0f} events/s")
        log(f"importing {args.events:,} events")
        started = time.monotonic()
        cpu_before = servers.tree_cpu_seconds(server.pid)
        done = subprocess.run(command, env=env, stderr=subprocess.PIPE, text=True, check=False)
        server_cpu = servers.tree_cpu_seconds(server.pid) - cpu_before
        wall = time.monotonic() - started
    finally:
        code = server.stop()
        if code not in (0, None, -signal.SIGTERM):
            log(f"server exit code {code}")
        checkpoint.unlink(missing_ok=True)
    stored, _ = prefill.sqlite_stored(path, base)
    stored -= replayed
    prefill.remove_sqlite(path)
    summary = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    match = re.search(r"([\d,]+) objects/s", summary)
    rate = float(match.group(1).replace(",", "")) if match else args.events / wall
    ratio = rate / args.reference
    lines = ["", "=" * 90, "heron import benchmark", "=" * 90,
             "command    " + shlex.join([sys.executable, *sys.argv])]  # fmt: skip
    lines += [f"{label:<10} {value}" for label, value in machine.describe(prefill.CACHE_DIR)]
    lines += [
        f"file       {source} ({source.stat().st_size / 1e6:,.0f} MB, {args.events:,} events)",
        f"server     heron serve --workers {args.workers}, SQLite, {base.events:,} prefilled",
        f"import     exit {done.returncode}: {summary}",
        f"rate       {rate:,.0f} events/s (wall {wall:.1f} s incl. start-up:"
        f" {args.events / wall:,.0f}/s); server CPU {server_cpu / wall:.2f} cores",
        f"stored     {stored:,} new rows for {args.events:,} events:"
        f" {'OK' if stored == args.events else 'MISMATCH'}",
        f"ratio      {ratio:.2f} of {args.reference:,.0f} events/s (docs/performance.md figure)",
    ]
    if raw is not None and raw.objects_per_s > 0:
        same = rate / raw.objects_per_s
        lines.append(
            f"ratio      {same:.2f} of {raw.objects_per_s:,.0f} events/s (bench/ingest.py's load"
            f" generator on this server just before): {'PASS' if same >= TARGET_RATIO else 'MISS'}"
            f" (target >= {TARGET_RATIO:.2f})"
        )
    lines.append("=" * 90)
    print("\n".join(lines), flush=True)
    return 0 if done.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
