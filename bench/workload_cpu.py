"""Server CPU per event for bench/ingest.py's cycled bodies against a file's distinct events.

Run: `.venv/bin/python bench/workload_cpu.py` (see `--help`). Each workload gets a fresh copy of
the prefilled SQLite database (as bench/ingest.py) and its own `heron serve`; bench/ingest.py's
load generator sends `--requests` requests of 75 events once each, and the script prints the
CPU seconds the server's process tree spent per acknowledged event (CPU, not wall, so the
figure holds on a shared machine), with the wall rate beside it for context:

- `classic`: bench/ingest.py's 1,000 bodies, cycled (its workload: 75,000 events replayed);
- `fresh`: distinct events drawn by the same function (`benchlib.dataset.draw_events`, as
  bench/import.py's file is), each sent once, as `heron import` sends a file.

`--profile DIR` also records each server with `py-spy record --subprocesses` (speedscope JSON).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import orjson
import psutil

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from benchlib import dataset, loadgen, prefill, servers  # noqa: E402

HOST = "127.0.0.1"


def log(message: str) -> None:
    """A timestamped progress line."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def fresh_bodies(count: int, now_ms: int, seed: int = 11) -> list[bytes]:
    """`count` bodies of distinct events drawn as bench/import.py's file (75 a body)."""
    catalog = dataset.make_catalog()
    rng = random.Random(seed)
    size = dataset.EVENTS_PER_REQUEST
    return [
        orjson.dumps({"events": dataset.draw_events(catalog, rng, size, now_ms)})
        for _ in range(count)
    ]


def tree_io_bytes(pid: int) -> tuple[int, int]:
    """(write_bytes, fsync-free write() bytes) so far of a process tree (Linux /proc io)."""
    written = chars = 0
    for proc in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        try:
            io = proc.io_counters()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        written += io.write_bytes
        chars += io.write_chars
    return written, chars


def measure(args: argparse.Namespace, base: prefill.Prefill, cli: list[str], what: str) -> str:
    """One workload on its own server; the report line."""
    now_ms = time.time_ns() // 1_000_000
    if what == "classic":
        cycled = dataset.build_bodies(dataset.make_catalog(), 1000, now_ms)
        bodies = [cycled[i % len(cycled)] for i in range(args.requests)]
    else:
        bodies = fresh_bodies(args.requests, now_ms)
    name = f"workload-{os.getpid()}-{what}"
    path = prefill.fresh_sqlite_copy(base, name)
    url = f"sqlite:///{path}"
    env = {**os.environ, "HERON_DATABASE_URL": url, "HERON_RATE_LIMITS": "off"}
    key = prefill.run_heron(["keys", "create", "--name", "bench", "--database", url], env).strip()
    port = servers.free_port()
    server = servers.ServerProcess(
        "heron",
        [*cli, "serve", "--host", HOST, "--port", str(port), "--database", url,
         "--workers", str(args.workers)],
        env, prefill.CACHE_DIR / "logs" / f"{name}.log",
    )  # fmt: skip
    spy: subprocess.Popen[bytes] | None = None
    try:
        server.start()
        server.wait_healthy(HOST, port)
        if args.profile is not None:
            args.profile.mkdir(parents=True, exist_ok=True)
            spy = subprocess.Popen(
                [str(Path(sys.executable).with_name("py-spy")), "record", "--subprocesses",
                 "--nonblocking", "--format", "speedscope", "--rate", "50", "-o",
                 str(args.profile / f"{what}.json"), "--pid", str(server.pid)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(1.0)
        load_before = os.getloadavg()[0]
        io_before = tree_io_bytes(server.pid)
        result = loadgen.run_load(
            loadgen.LoadConfig(
                host=HOST, port=port,
                requests=loadgen.build_requests(HOST, port, "/users/track", key, bodies),
                objects_per_request=dataset.EVENTS_PER_REQUEST, concurrency=args.concurrency,
                warmup_s=0.0, duration_s=3600.0, grace_s=30.0, max_requests=len(bodies),
                once=True,
            ),
            server.pid,
        )  # fmt: skip
        load_after = os.getloadavg()[0]
        io_after = tree_io_bytes(server.pid)
    finally:
        if spy is not None:
            spy.send_signal(2)
            spy.wait(timeout=60)
        server.stop()
        prefill.remove_sqlite(path)
    events = result.total_objects
    errors = sum(result.errors.values())
    cpu = result.run_cpu[1]
    return (
        f"{what:<8} {events:>9,} events  server CPU {cpu / max(events, 1) * 1e6:6.1f} us/event"
        f"  ({cpu:6.1f} s)  written {(io_after[1] - io_before[1]) / max(events, 1):,.0f} B/event"
        f"  wall {result.run_objects_per_s:>8,.0f} events/s"
        f"  load {load_before:.2f}->{load_after:.2f}"
        + (f"  ERRORS {dict(result.errors)}" if errors else "")
    )


def main(argv: list[str]) -> int:
    """Measure the requested workloads one after the other."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefill", type=int, default=10_000_000, help="events already stored")
    parser.add_argument("--requests", type=int, default=4000, help="75-event requests each")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workload", choices=("classic", "fresh", "both"), default="both")
    parser.add_argument("--profile", type=Path, help="py-spy speedscope profiles into this dir")
    args = parser.parse_args(argv)
    if args.profile is not None and shutil.which("py-spy") is None:
        log("note: py-spy not on PATH; using the venv's")
    base = prefill.sqlite_prefill(args.prefill, log)
    cli = prefill.heron_cli()
    assert cli is not None
    kinds = ["classic", "fresh"] if args.workload == "both" else [args.workload]
    lines = [measure(args, base, cli, what) for what in kinds]
    print(f"\nprefill {base.events:,} events, {args.workers} workers, {args.requests} requests")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
