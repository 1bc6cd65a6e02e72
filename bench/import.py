"""`heron import` benchmark: a 1-million-event NDJSON file into a real `heron serve`, events/s.

Run: `.venv/bin/python bench/import.py` (see `--help`). It builds (once, cached in
bench/.cache) an NDJSON file of events shaped like bench/ingest.py's bodies (100,000 users,
500 Zipf-popular names, 10 apps, 5 properties), cuts it into `--segments` consecutive parts,
and starts two `heron serve`, each on its own fresh copy of the same prefilled SQLite
database as bench/ingest.py. Part by part, taking turns at going first:

- `replay`: bench/ingest.py's raw load generator (same connections, same 75-event bodies)
  sends the part once, cut into exactly the bodies the import sends, to server A;
- `import`: the real `heron import` command (with its progress bar) imports the part's file
  into server B.

Each side's rate is its events over the sum of its parts' times (first request to last
answer; for the import the command's own figure). The target of issue 7 is `heron import`
at no less than 0.70 of bench/ingest.py's throughput; the verdict is taken against the
replay: the same load generator doing the same work from the same starting state, through
the same phases of the server (its history-index merges, its growing tables), with machine
drift landing on both sides alike, so only the client differs. With `--compare SECONDS`,
bench/ingest.py's classic measure (its 1,000 cycled bodies, after 2 s of warm-up) runs on a
third copy for SECONDS in all, in one window per part taken in turn with the two sides (each
after 0.5 s of its own warm-up), so that the machine's drift lands on it as on them: see
docs/performance.md for why it is another phase of the server.

With `--against-ingest ROUNDS` it measures issue 7 as worded instead: each round imports the
whole file with one `heron import` into a fresh copy of the prefill, and bench/ingest.py itself
(`--duration 60 --warmup 5`, heron side, the same workers and connections) runs before the
first round and after every round; each import is held to the mean of the two runs around it,
and the worst round gives the verdict.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from benchlib import dataset, loadgen, machine, prefill, servers  # noqa: E402

HOST = "127.0.0.1"
REFERENCE_EVENTS_PER_S = 21_631.0  # docs/performance.md: bench/ingest.py, idle, 2 workers
TARGET_RATIO = 0.70
FILE_VERSION = 3  # 3: names and apps drawn as bench/ingest.py draws them


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
    temporary = path.with_suffix(".tmp")
    write_events(temporary, count, time.time_ns() // 1_000_000)
    temporary.replace(path)
    return path


def write_events(path: Path, count: int, now_ms: int, seed: int = 11) -> None:
    """`count` events drawn exactly as bench/ingest.py's bodies are, one JSON object a line.

    (Version 2 drew names and apps with cumulative weights passed as plain weights, so the
    file's events were spread almost evenly over the 500 names instead of Zipf-popular:
    another workload than bench/ingest.py's, about three times slower to store.)
    """
    catalog = dataset.make_catalog()
    rng = random.Random(seed)
    with path.open("wb") as stream:
        for start in range(0, count, 1000):
            for event in dataset.draw_events(catalog, rng, min(1000, count - start), now_ms):
                stream.write(orjson.dumps(event) + b"\n")


def main(argv: list[str]) -> int:
    """Build, serve, replay and import part by part, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the file")
    parser.add_argument("--prefill", type=int, default=10_000_000, help="events already stored")
    parser.add_argument("--workers", type=int, default=2, help="heron serve workers")
    parser.add_argument("--concurrency", type=int, default=32, help="connections, both sides")
    parser.add_argument("--reference", type=float, default=REFERENCE_EVENTS_PER_S)
    parser.add_argument("--segments", type=int, default=10, help="parts, taking turns")
    parser.add_argument(
        "--compare", type=float, default=0.0, help="seconds of the classic cycled load (0: skip)"
    )
    parser.add_argument(
        "--import-args", default="", help="extra `heron import` arguments (quoted string)"
    )
    parser.add_argument(
        "--against-ingest",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="instead: ROUNDS whole-file imports, each between two runs of bench/ingest.py",
    )
    parser.add_argument(
        "--ingest-seconds", type=float, default=60.0, help="bench/ingest.py's --duration there"
    )
    args = parser.parse_args(argv)
    if args.segments < 1:
        parser.error("--segments >= 1")

    source = events_file(args.events)
    base = prefill.sqlite_prefill(args.prefill, log)
    cli = prefill.heron_cli()
    assert cli is not None
    STARTUP_CPU[0] = measure_startup(cli)
    if args.against_ingest > 0:
        return against_ingest(args, source, base, cli)
    parts = segment_files(source, args.segments)
    outcomes: list[Outcome] = []
    replay_side = Served(args, base, cli, "replay")
    import_side = Served(args, base, cli, "import")
    classic_side = Served(args, base, cli, "classic") if args.compare > 0 else None
    classic_bodies: list[bytes] = []
    if classic_side is not None:
        now_ms = time.time_ns() // 10**6
        classic_bodies = dataset.build_bodies(dataset.make_catalog(), 1000, now_ms)
    with contextlib.ExitStack() as stack:
        for side in (replay_side, import_side, classic_side):
            if side is not None:
                stack.enter_context(side)
        if classic_side is not None:
            log("classic cycled load (bench/ingest.py's): 2 s of warm-up ...")
            load(classic_side, args, classic_bodies, warmup_s=0.0, duration_s=2.0)
        for number, (part, bodies, count) in enumerate(parts):
            sides = ["replay", "import"] if number % 2 == 0 else ["import", "replay"]
            if classic_side is not None:
                sides.insert(number % 3, "classic")
            for what in sides:
                if what == "replay":
                    outcomes.append(replay(args, replay_side, bodies, count))
                elif what == "import":
                    outcomes.append(run_import(args, cli, import_side, part, count))
                elif classic_side is not None:
                    seconds = args.compare / len(parts)
                    outcomes.append(classic(args, classic_side, classic_bodies, seconds))
    classic_outcome = None
    if classic_side is not None:
        classic_side.stored()
        classic_outcome = total(outcomes, "classic")
        classic_outcome.detail = (
            f"1,000 cycled bodies, {len(parts)} windows of {args.compare / len(parts):.1f} s"
            " taken in turn with the parts"
        )
    stored = {"replay": replay_side.stored(), "import": import_side.stored()}
    for part, _, _ in parts:
        part.unlink(missing_ok=True)
    print_report(args, source, base, classic_outcome, outcomes, stored)
    return 0 if all(o.ok for o in outcomes) and set(stored.values()) == {args.events} else 1


@dataclass(slots=True)
class Outcome:
    """One measured part: which side, events, seconds, CPU."""

    what: str
    events: int
    seconds: float
    server_cpu: float
    client_cpu: float
    detail: str = ""
    ok: bool = True
    requests: int = 0

    @property
    def rate(self) -> float:
        """Events per second."""
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        """One report line."""
        client = f", client {self.client_cpu / self.seconds:.2f}" if self.client_cpu else ""
        if self.client_cpu and self.requests:
            client += f" ({self.client_cpu / self.requests * 1e3:.2f} ms CPU per request)"
        return (
            f"{self.what:<8} {self.rate:>9,.0f} events/s over {self.seconds:5.1f} s;"
            f" server {self.server_cpu / max(self.seconds, 1e-9):.2f} cores{client}"
            + (f"; {self.detail}" if self.detail else "")
        )


def total(outcomes: list[Outcome], what: str) -> Outcome:
    """One side's parts added up."""
    mine = [o for o in outcomes if o.what == what]
    return Outcome(
        what,
        sum(o.events for o in mine),
        sum(o.seconds for o in mine),
        sum(o.server_cpu for o in mine),
        sum(o.client_cpu for o in mine),
        f"{len(mine)} parts",
        requests=sum(o.requests for o in mine),
    )


class Served:
    """A fresh copy of the prefill with its own API key and `heron serve`."""

    def __init__(self, args: argparse.Namespace, base: prefill.Prefill, cli: list[str], name: str):
        """Copy the prefill and make a key; the server starts on `__enter__`."""
        self.base = base
        self.name = f"import-{os.getpid()}-{name}"
        self.path = prefill.fresh_sqlite_copy(base, self.name)
        url = f"sqlite:///{self.path}"
        self.env = {**os.environ, "HERON_DATABASE_URL": url, "HERON_RATE_LIMITS": "off"}
        create = ["keys", "create", "--name", "bench", "--database", url]
        self.key = prefill.run_heron(create, self.env).strip()
        self.port = servers.free_port()
        serve = [*cli, "serve", "--host", HOST, "--port", str(self.port), "--database", url]
        self.server = servers.ServerProcess(
            "heron", [*serve, "--workers", str(args.workers)], self.env,
            prefill.CACHE_DIR / "logs" / f"{self.name}.log",
        )  # fmt: skip
        self.workers = args.workers

    def __enter__(self) -> Served:
        """Start the server and wait until it answers."""
        self.server.start()
        self.server.wait_healthy(HOST, self.port)
        log(f"heron serving on {self.port} ({self.workers} workers), {self.name}")
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop the server (the copy stays until `stored`)."""
        code = self.server.stop()
        if code not in (0, None, -signal.SIGTERM):
            log(f"server exit code {code}")

    def stored(self) -> int:
        """New event rows since the prefill; removes the copy."""
        rows, _ = prefill.sqlite_stored(self.path, self.base)
        prefill.remove_sqlite(self.path)
        return rows


STARTUP_CPU = [0.0]  # CPU seconds of starting the `heron import` process (measured once)


def measure_startup(cli: list[str]) -> float:
    """CPU seconds a `heron import` process spends importing its modules (median of 3)."""
    probe = [sys.executable, "-c", "import heron.cli, heron.tools.cli, heron.tools.importer"]
    if cli[0] != sys.executable:
        probe[0] = str(Path(cli[0]).with_name("python"))
    spent = []
    for _ in range(3):
        before = os.times()
        subprocess.run(probe, check=True)
        after = os.times()
        spent.append(
            after.children_user - before.children_user + after.children_system
            - before.children_system
        )  # fmt: skip
    return sorted(spent)[1]


def segment_files(source: Path, segments: int) -> list[tuple[Path, list[bytes], int]]:
    """The file in consecutive parts: each part's file, its `/users/track` bodies, its events.

    The bodies are cut exactly as `heron import` cuts the part's file (75 events each).
    """
    records = [line for line in source.read_bytes().split(b"\n") if line.strip()]
    size = dataset.EVENTS_PER_REQUEST
    per_part = -(-len(records) // size // segments) * size  # whole bodies per part
    parts = []
    for number, start in enumerate(range(0, len(records), per_part)):
        chunk = records[start : start + per_part]
        path = source.with_name(f"{source.stem}.part{number}-{os.getpid()}.ndjson")
        path.write_bytes(b"\n".join(chunk) + b"\n")
        bodies = [
            b'{"events":[' + b",".join(chunk[i : i + size]) + b"]}"
            for i in range(0, len(chunk), size)
        ]
        parts.append((path, bodies, len(chunk)))
    return parts


def load(served: Served, args: argparse.Namespace, bodies: list[bytes], **kw: Any) -> Any:
    """bench/ingest.py's load generator on `served`, replaying `bodies`."""
    config = {"warmup_s": 2.0, "duration_s": args.compare, "max_requests": 5_000_000, **kw}
    return loadgen.run_load(
        loadgen.LoadConfig(
            host=HOST,
            port=served.port,
            requests=loadgen.build_requests(HOST, served.port, "/users/track", served.key, bodies),
            objects_per_request=dataset.EVENTS_PER_REQUEST,
            concurrency=args.concurrency,
            grace_s=30.0,
            **config,
        ),
        served.server.pid,
    )


def classic(
    args: argparse.Namespace, served: Served, bodies: list[bytes], seconds: float
) -> Outcome:
    """bench/ingest.py's measure: its 1,000 bodies cycled, one window of `seconds`."""
    result = load(served, args, bodies, warmup_s=0.5, duration_s=seconds)
    client, server = result.cpu_cores()[:2]
    outcome = Outcome(
        "classic", result.window_objects, seconds, server * seconds, client * seconds,
        "1,000 cycled bodies, window after 0.5 s",
    )  # fmt: skip
    log(outcome.line())
    return outcome


def replay(args: argparse.Namespace, served: Served, bodies: list[bytes], count: int) -> Outcome:
    """The raw load generator sending one part once, as the import's bodies."""
    result = load(
        served, args, bodies, once=True, warmup_s=0.0, duration_s=3600.0,
        max_requests=len(bodies),
    )  # fmt: skip
    # The file's last body may be short (1,000,000 is not a multiple of 75): not an error.
    short = f"201 acknowledging {count % dataset.EVENTS_PER_REQUEST}/{dataset.EVENTS_PER_REQUEST}"
    if result.errors.get(short) == 1 and result.total_objects == count:
        del result.errors[short]
    errors = sum(result.errors.values())
    outcome = Outcome(
        "replay", result.total_objects, result.run_seconds, result.run_cpu[1],
        result.run_cpu[0], f"{errors} errors {dict(result.errors)}" if errors else "",
        ok=errors == 0 and result.total_objects == count, requests=result.total_requests,
    )  # fmt: skip
    log(outcome.line())
    return outcome


def ingest_figure(args: argparse.Namespace) -> float:
    """bench/ingest.py's throughput, as it prints it (heron side, SQLite, this prefill)."""
    figures = prefill.CACHE_DIR / f"ingest-figures-{os.getpid()}.json"
    command = [sys.executable, str(BENCH_DIR / "ingest.py"), "--duration",
               str(args.ingest_seconds), "--warmup", "5", "--workers", str(args.workers),
               "--concurrency", str(args.concurrency), "--prefill", str(args.prefill),
               "--skip-baseline", "--json", str(figures)]  # fmt: skip
    log("bench/ingest.py: " + shlex.join(command[1:]))
    try:
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        sides = orjson.loads(figures.read_bytes())["sides"]
    finally:
        figures.unlink(missing_ok=True)
    side = next(s for s in sides if s["name"] == "heron" and s["kind"] == "sqlite")
    if side["failure"] or side["failures"]:
        raise SystemExit(f"bench/ingest.py failed: {side['failure'] or side['errors']}")
    rate = float(side["objects_per_s"])
    log(f"ingest   {rate:>9,.0f} events/s (bench/ingest.py, p99 {side['p99_ms']:.0f} ms)")
    return rate


def against_ingest(
    args: argparse.Namespace, source: Path, base: prefill.Prefill, cli: list[str]
) -> int:
    """Issue 7 read literally: the whole file in one `heron import`, against bench/ingest.py's
    own figure measured just before and just after it (their mean), round after round."""
    references = [ingest_figure(args)]
    imports: list[Outcome] = []
    stored: list[int] = []
    for number in range(args.against_ingest):
        side = Served(args, base, cli, f"whole{number}")
        with side:
            imports.append(run_import(args, cli, side, source, args.events))
        stored.append(side.stored())
        references.append(ingest_figure(args))
    lines = ["", "=" * 90, "heron import of the whole file against bench/ingest.py", "=" * 90,
             "command    " + shlex.join([sys.executable, *sys.argv])]  # fmt: skip
    lines += [f"{label:<10} {value}" for label, value in machine.describe(prefill.CACHE_DIR)]
    lines.append(
        f"file       {source} ({source.stat().st_size / 1e6:,.0f} MB, {args.events:,} events),"
        f" one `heron import` per round into a fresh copy of the {base.events:,}-event prefill"
    )
    ratios = []

    def shown(ratio: float) -> str:
        """Three decimals, cut rather than rounded: a miss never shows as 0.700."""
        return f"{math.floor(ratio * 1000) / 1000:.3f}"

    for number, outcome in enumerate(imports):
        before, after = references[number], references[number + 1]
        ratio = outcome.rate / ((before + after) / 2)
        ratios.append(ratio)
        check = "OK" if stored[number] == args.events else "MISMATCH"
        lines.append(
            f"round {number + 1}    import {outcome.rate:,.0f} events/s ({outcome.seconds:.1f} s,"
            f" client {outcome.client_cpu / outcome.seconds:.2f} cores); bench/ingest.py before"
            f" {before:,.0f}, after {after:,.0f}: {shown(ratio)};"
            f" stored {stored[number]:,}: {check}"
        )
    ok = all(o.ok for o in imports) and set(stored) == {args.events}
    verdict = "PASS" if ok and min(ratios) >= TARGET_RATIO else "MISS"
    lines.append(
        f"ratio      {shown(min(ratios))}-{shown(max(ratios))} of bench/ingest.py's throughput"
        f" (worst round counts): {verdict} (target >= {TARGET_RATIO:.2f})"
    )
    lines.append("=" * 90)
    print("\n".join(lines), flush=True)
    return 0 if ok else 1


def run_import(
    args: argparse.Namespace, cli: list[str], served: Served, part: Path, count: int
) -> Outcome:
    """The real `heron import` command on one part's file."""
    checkpoint = part.with_name(f"{part.name}.checkpoint")
    command = [*cli, "import", str(part), "--url", f"http://{HOST}:{served.port}",
               "--api-key", served.key, "--concurrency", str(args.concurrency),
               "--checkpoint", str(checkpoint), *shlex.split(args.import_args)]  # fmt: skip
    try:
        started = time.monotonic()
        cpu_before = servers.tree_cpu_seconds(served.server.pid)
        client_before = os.times()
        done = subprocess.run(command, env=served.env, stderr=subprocess.PIPE, text=True)
        client_after = os.times()
        server_cpu = servers.tree_cpu_seconds(served.server.pid) - cpu_before
        wall = time.monotonic() - started
    finally:
        checkpoint.unlink(missing_ok=True)
    summary = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    counted = re.search(r"processed (\d+) events", summary)
    seconds_match = re.search(r"in ([\d.]+) s", summary)
    seconds = float(seconds_match.group(1)) if seconds_match else wall
    client_cpu = (client_after.children_user - client_before.children_user) + (
        client_after.children_system - client_before.children_system
    )
    client_cpu = max(0.0, client_cpu - STARTUP_CPU[0])
    requests = re.search(r"\((\d+) requests in", summary)
    events = int(counted.group(1)) if counted else 0
    outcome = Outcome(
        "import", events, seconds, server_cpu * seconds / wall, client_cpu,
        f"exit {done.returncode}" + ("" if done.returncode == 0 else f": {summary}"),
        ok=done.returncode == 0 and events == count,
        requests=int(requests.group(1)) if requests else 0,
    )  # fmt: skip
    log(outcome.line())
    return outcome


def print_report(
    args: argparse.Namespace,
    source: Path,
    base: prefill.Prefill,
    classic_outcome: Outcome | None,
    outcomes: list[Outcome],
    stored: dict[str, int],
) -> None:
    """The figures and the verdict."""
    lines = ["", "=" * 90, "heron import benchmark", "=" * 90,
             "command    " + shlex.join([sys.executable, *sys.argv])]  # fmt: skip
    lines += [f"{label:<10} {value}" for label, value in machine.describe(prefill.CACHE_DIR)]
    load_avg = " ".join(f"{x:.2f}" for x in os.getloadavg())
    replayed, imported = total(outcomes, "replay"), total(outcomes, "import")
    lines += [
        f"load       {load_avg} (1/5/15 min, at the end)",
        f"file       {source} ({source.stat().st_size / 1e6:,.0f} MB, {args.events:,} events)"
        f" in {args.segments} parts",
        f"server     heron serve --workers {args.workers}, SQLite, {base.events:,} prefilled,"
        " one fresh copy per side",
        *([classic_outcome.line()] if classic_outcome else []),
        replayed.line(),
        imported.line() + f" (client: the heron import processes, less {STARTUP_CPU[0]:.2f} s"
        " start-up each)",
    ]
    for what, rows in stored.items():
        check = "OK" if rows == args.events else "MISMATCH"
        lines.append(f"stored     {what}: {rows:,} new rows for {args.events:,} events: {check}")
    pairs = [
        i.rate / r.rate
        for r, i in zip(
            [o for o in outcomes if o.what == "replay"],
            [o for o in outcomes if o.what == "import"],
            strict=True,
        )
        if r.rate > 0
    ]
    rate = imported.rate
    lines.append("parts      import/replay per part: " + " ".join(f"{x:.2f}" for x in pairs))
    lines.append(f"ratio      {rate / args.reference:.2f} of {args.reference:,.0f} events/s"
                 " (docs/performance.md figure; another machine state)")  # fmt: skip
    if classic_outcome is not None and classic_outcome.rate > 0:
        cycled = rate / classic_outcome.rate
        verdict = "PASS" if cycled >= TARGET_RATIO else "MISS"
        lines.append(
            f"ratio      {cycled:.2f} of bench/ingest.py's classic cycled load, in turn with the"
            f" parts ({classic_outcome.rate:,.0f} events/s): {verdict}"
            f" (target >= {TARGET_RATIO:.2f})"
        )
    if replayed.rate > 0:
        same = rate / replayed.rate
        verdict = "PASS" if same >= TARGET_RATIO else "MISS"
        lines.append(
            f"ratio      {same:.2f} of bench/ingest.py's load generator replaying the same file"
            f" ({replayed.rate:,.0f} events/s): {verdict} (target >= {TARGET_RATIO:.2f})"
        )
    lines.append("=" * 90)
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
