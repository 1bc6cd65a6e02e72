"""CPU cost of one `POST /users/track` request inside heron, without the network or a client.

Drives the real ASGI app (real SQLite file, real writer thread) with concurrent requests of 75
events and prints CPU time per request (all threads of this process) and wall throughput.
Because it counts CPU time rather than wall time, its figures stay comparable on a shared,
busy machine, which makes it the tool for "did this change make ingest cheaper?".

    .venv/bin/python bench/ingest_cpu.py                  # full path: HTTP, validation, storage
    .venv/bin/python bench/ingest_cpu.py --front-only     # HTTP + decode + validation only
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec

from heron.admin import apps as app_admin
from heron.admin import keys as key_admin
from heron.app import create_app
from heron.config import Settings
from heron.ingest import trackstore
from heron.ingest import writer as group_writer
from heron.ingest.batch import TrackBatch, TrackOutcome
from heron.store import migrate
from heron.store.engine import make_engine

Message = dict[str, Any]
# CPU seconds of the writer thread: storing groups, and its background steps under the lock
WRITER_CPU = {"commit": 0.0, "background": 0.0}


def _time_writer() -> None:
    """Count the writer thread's CPU (thread_time) in its group commits and background steps."""

    def timed(method: Any, slot: str) -> Any:
        def wrapper(*args: Any) -> Any:
            started = time.thread_time()
            try:
                return method(*args)
            finally:
                WRITER_CPU[slot] += time.thread_time() - started

        return wrapper

    cls = group_writer.GroupCommitWriter
    cls._commit = timed(cls._commit, "commit")  # type: ignore[method-assign]
    cls._index_history = timed(cls._index_history, "background")  # type: ignore[method-assign]
    cls._compact = timed(cls._compact, "background")  # type: ignore[method-assign]


def _workload_bodies(workload: str, count: int) -> list[bytes]:
    """bench/ingest.py's bodies: its 1,000 cycled (`classic`) or `count` distinct (`fresh`)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from benchlib import dataset

    now_ms = time.time_ns() // 1_000_000
    catalog = dataset.make_catalog()
    if workload == "classic":
        cycled = dataset.build_bodies(catalog, 1000, now_ms)
        return [cycled[i % len(cycled)] for i in range(count)]
    rng = random.Random(11)
    size = dataset.EVENTS_PER_REQUEST
    return [
        msgspec.json.encode({"events": dataset.draw_events(catalog, rng, size, now_ms)})
        for _ in range(count)
    ]


def _bodies(app_ids: list[str], count: int) -> list[bytes]:
    """Request bodies like bench/ingest.py's: 75 events, long-tail names, 5 properties."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    rng = random.Random(7)
    return [
        msgspec.json.encode(
            {
                "events": [
                    {
                        "external_id": f"user-{rng.randrange(100_000)}",
                        "app_id": rng.choice(app_ids),
                        "name": f"event_name_{min(499, int(rng.paretovariate(1.0)))}",
                        "time": now,
                        "properties": {"s": "hello world", "i": 42, "f": 3.14, "b": True, "t": "x"},
                    }
                    for _ in range(75)
                ]
            }
        )
        for _ in range(count)
    ]


def _skip_storage() -> None:
    """Replace the group apply with a no-op, leaving HTTP, decode, validation and the writer hop."""

    def apply(
        self: trackstore.TrackStore, conn: Any, batches: list[TrackBatch]
    ) -> list[TrackOutcome]:
        return [TrackOutcome() for _ in batches]

    trackstore.TrackStore.apply = apply  # type: ignore[method-assign,assignment]


async def _run(app: Any, secret: str, bodies: list[bytes], requests: int, concurrency: int) -> None:
    """Start the app's lifespan, warm up, then measure."""
    lifespan: asyncio.Queue[Message] = asyncio.Queue()
    started = asyncio.Event()

    async def lifespan_receive() -> Message:
        return await lifespan.get()

    async def lifespan_send(message: Message) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()

    await lifespan.put({"type": "lifespan.startup"})
    task = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}}, lifespan_receive, lifespan_send)
    )
    await started.wait()
    headers = [
        (b"authorization", f"Bearer {secret}".encode()),
        (b"content-type", b"application/json"),
    ]

    async def call(body: bytes) -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/users/track",
            "raw_path": b"/users/track",
            "query_string": b"",
            "root_path": "",
            "client": ("127.0.0.1", 1),
            "server": None,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
        delivered = False
        status: list[int] = []

        async def receive() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await app(scope, receive, send)
        if status != [201]:
            raise RuntimeError(f"unexpected status {status}")

    gate = asyncio.Semaphore(concurrency)

    async def bounded(factory: Callable[[], Awaitable[None]]) -> None:
        async with gate:
            await factory()

    await asyncio.gather(*(bounded(lambda b=b: call(b)) for b in bodies[:200]))  # warm-up
    measured = bodies[200:] if len(bodies) > 200 else bodies
    WRITER_CPU.update(commit=0.0, background=0.0)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(
        *(bounded(lambda i=i: call(measured[i % len(measured)])) for i in range(requests))
    )
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    per_request = cpu / requests
    print(
        f"machine      {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.2f}"
    )
    print(f"requests     {requests} x 75 events, concurrency {concurrency}")
    print(
        f"CPU/request  {per_request * 1e6:,.0f} us  ({per_request * 1e6 / 75:.1f} us/event, "
        f"{75 / per_request:,.0f} events per CPU-second)"
    )
    events = 75 * requests
    print(
        f"writer       commits {WRITER_CPU['commit'] / events * 1e6:.1f} us/event, background"
        f" (history index, compaction) {WRITER_CPU['background'] / events * 1e6:.1f} us/event"
    )
    print(f"wall         {events / wall:,.0f} events/s")
    await lifespan.put({"type": "lifespan.shutdown"})
    await task


def main() -> None:
    """Parse flags and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--front-only", action="store_true", help="skip storage (no-op apply)")
    parser.add_argument(
        "--prefill", type=int, default=0,
        help="run on a copy of bench/ingest.py's prefill of this many events (0: empty database)",
    )  # fmt: skip
    parser.add_argument(
        "--workload", choices=("classic", "fresh"), default="classic",
        help="with --prefill: bench/ingest.py's 1,000 cycled bodies, or distinct events",
    )  # fmt: skip
    args = parser.parse_args()
    if args.front_only:
        _skip_storage()
    _time_writer()
    if args.prefill:
        _run_prefilled(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        engine = make_engine(url)
        migrate.upgrade(engine)
        secret, _ = key_admin.create_key(engine, 1, "bench", ["users.track"])
        app_ids = [app_admin.create_app(engine, 1, f"app{i}").api_id for i in range(10)]
        engine.dispose()
        app = create_app(Settings(database_url=url, rate_limits=False), run_migrations=False)
        asyncio.run(_run(app, secret, _bodies(app_ids, 200), args.requests, args.concurrency))


def _run_prefilled(args: argparse.Namespace) -> None:
    """On a fresh copy of bench/ingest.py's prefill, with its catalog's bodies."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from benchlib import prefill

    base = prefill.sqlite_prefill(args.prefill, print)
    path = prefill.fresh_sqlite_copy(base, f"ingest-cpu-{os.getpid()}")
    try:
        url = f"sqlite:///{path}"
        engine = make_engine(url)
        secret, _ = key_admin.create_key(engine, 1, "bench", ["users.track"])
        engine.dispose()
        app = create_app(Settings(database_url=url, rate_limits=False), run_migrations=False)
        bodies = _workload_bodies(args.workload, 200 + args.requests)
        print(f"workload     {args.workload}, prefill {args.prefill:,} events")
        asyncio.run(_run(app, secret, bodies, args.requests, args.concurrency))
    finally:
        prefill.remove_sqlite(path)


if __name__ == "__main__":
    main()
