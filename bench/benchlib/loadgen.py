"""A lean load generator: N keep-alive HTTP/1.1 connections replaying pre-built requests."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import orjson
import psutil

from benchlib.servers import tree_cpu_seconds


@dataclass(frozen=True, slots=True)
class LoadConfig:
    """What to send and for how long."""

    host: str
    port: int
    requests: list[bytes]  # complete HTTP requests, cycled
    objects_per_request: int
    concurrency: int
    warmup_s: float
    duration_s: float
    grace_s: float  # how long in-flight requests may take to finish after the window
    max_requests: int  # hard bound on requests sent, whatever the time
    database_process: str | None = None  # e.g. "postgres": its processes' CPU is reported apart
    once: bool = False  # send each request exactly once, in order, then stop (no cycling)


@dataclass(slots=True)
class CpuSnapshot:
    """CPU seconds used so far by the client, the server tree, the database and the machine."""

    at: float
    client: float
    server: float
    database: float
    machine_busy: float

    @classmethod
    def take(cls, server_pid: int, database_process: str | None) -> CpuSnapshot:
        """Read the counters now."""
        cpu = psutil.cpu_times()
        busy = sum(cpu) - cpu.idle - getattr(cpu, "iowait", 0.0)
        database = named_cpu_seconds(database_process) if database_process else 0.0
        return cls(
            time.perf_counter(),
            time.process_time(),
            tree_cpu_seconds(server_pid),
            database,
            busy,
        )


def named_cpu_seconds(name: str) -> float:
    """CPU seconds used so far by every process with this name (e.g. PostgreSQL's backends)."""
    total = 0.0
    for proc in psutil.process_iter(["name", "cpu_times"]):
        times = proc.info.get("cpu_times")
        if proc.info.get("name") == name and times is not None:
            total += times.user + times.system
    return total


@dataclass(slots=True)
class LoadResult:
    """Everything one load run observed."""

    config: LoadConfig
    window_requests: int = 0  # completed inside the measured window (any status)
    window_ok: int = 0  # of those, answered 201
    window_objects: int = 0  # objects acknowledged (events_processed) inside the window
    latencies_ns: list[int] = field(default_factory=list)  # requests completed in the window
    total_requests: int = 0  # every completed request: warm-up, window and drain
    total_objects: int = 0  # every acknowledged object (compare with rows stored)
    sent: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: dict[str, str] = field(default_factory=dict)
    stopped_by_bound: bool = False
    cpu_start: CpuSnapshot | None = None
    cpu_end: CpuSnapshot | None = None
    next_request: int = 0  # `once` mode: the next request to send
    first_sent_ns: int = 0  # perf_counter_ns of the first request sent
    last_done_ns: int = 0  # perf_counter_ns of the last answer read
    run_cpu: tuple[float, float] = (0.0, 0.0)  # client, server CPU seconds over the whole run

    def error(self, kind: str, detail: bytes | str) -> None:
        """Count one failure and keep the first sample of each kind."""
        self.errors[kind] += 1
        if kind not in self.error_samples:
            text = detail.decode(errors="replace") if isinstance(detail, bytes) else detail
            self.error_samples[kind] = text[:300]

    @property
    def objects_per_s(self) -> float:
        """Acknowledged objects per second over the measured window."""
        return self.window_objects / self.config.duration_s

    @property
    def run_seconds(self) -> float:
        """From the first request sent to the last answer read (the whole run, warm-up included)."""
        return max(0.0, (self.last_done_ns - self.first_sent_ns) / 1e9)

    @property
    def run_objects_per_s(self) -> float:
        """Acknowledged objects per second over the whole run (the measure of `once` mode)."""
        seconds = self.run_seconds
        return self.total_objects / seconds if seconds > 0 else 0.0

    @property
    def requests_per_s(self) -> float:
        """Completed requests per second over the measured window."""
        return self.window_requests / self.config.duration_s

    def latency_ms(self, quantile: float) -> float:
        """Latency at `quantile` (0..1, nearest rank) of window requests, in milliseconds."""
        if not self.latencies_ns:
            return float("nan")
        ordered = sorted(self.latencies_ns)
        rank = min(len(ordered) - 1, max(0, round(quantile * len(ordered)) - 1))
        return ordered[rank] / 1e6

    def cpu_cores(self) -> tuple[float, float, float, float]:
        """Average cores used in the window by the client, the server, the database and the rest."""
        start, end = self.cpu_start, self.cpu_end
        if start is None or end is None:
            return (float("nan"),) * 4
        wall = end.at - start.at
        client = (end.client - start.client) / wall
        server = (end.server - start.server) / wall
        database = (end.database - start.database) / wall
        busy = (end.machine_busy - start.machine_busy) / wall
        return client, server, database, max(0.0, busy - client - server - database)


def build_requests(
    host: str, port: int, path: str, api_key: str, bodies: list[bytes]
) -> list[bytes]:
    """Complete `POST` requests (head and body in one buffer) for each body."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {api_key}\r\n"
        "Content-Type: application/json\r\nAccept: application/json\r\n"
    )
    return [f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body for body in bodies]


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    """Read a chunked body (and skip its trailers)."""
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Read one response: status, body, and whether the connection may be reused."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    keep = head.startswith(b"HTTP/1.1") and b"\r\nconnection: close" not in lower
    pos = lower.find(b"\r\ncontent-length:")
    if pos >= 0:
        end = lower.index(b"\r\n", pos + 2)
        body = await reader.readexactly(int(lower[pos + 17 : end]))
    elif b"\r\ntransfer-encoding: chunked" in lower:
        body = await _read_chunked(reader)
    else:
        body = await reader.read()
        keep = False
    return status, body, keep


async def _worker(index: int, cfg: LoadConfig, result: LoadResult, window: tuple[int, int]) -> None:
    """Send requests back to back on one connection until the window closes."""
    window_start, window_end = window
    requests = cfg.requests
    count = len(requests)
    expected = cfg.objects_per_request
    clock = time.perf_counter_ns
    latencies = result.latencies_ns
    position = index
    writer: asyncio.StreamWriter | None = None
    reader: asyncio.StreamReader | None = None
    try:
        while clock() < window_end and result.sent < cfg.max_requests:
            if writer is None or reader is None:
                try:
                    reader, writer = await asyncio.open_connection(cfg.host, cfg.port)
                except OSError as exc:
                    result.error("connect failed", repr(exc))
                    await asyncio.sleep(0.05)
                    continue
            if cfg.once:
                position = result.next_request
                if position >= count:
                    break
                result.next_request += 1
            request = requests[position % count]
            position += cfg.concurrency
            result.sent += 1
            started = clock()
            if not result.first_sent_ns:
                result.first_sent_ns = started
            try:
                writer.write(request)
                status, body, keep = await _read_response(reader)
            except (OSError, EOFError, ValueError, asyncio.IncompleteReadError) as exc:
                result.error("connection error", repr(exc))
                writer.close()
                writer = reader = None
                continue
            finished = clock()
            result.last_done_ns = max(result.last_done_ns, finished)
            acknowledged = 0
            if status == 201:
                try:
                    acknowledged = int(orjson.loads(body)["events_processed"])
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                    result.error("201 without events_processed", body)
                if acknowledged != expected:
                    result.error(f"201 acknowledging {acknowledged}/{expected}", body)
            else:
                result.error(f"HTTP {status}", body)
            result.total_requests += 1
            result.total_objects += acknowledged
            if window_start <= finished <= window_end:
                latencies.append(finished - started)
                result.window_requests += 1
                result.window_objects += acknowledged
                if status == 201:
                    result.window_ok += 1
            if not keep:
                writer.close()
                writer = reader = None
    finally:
        if writer is not None:
            writer.close()


async def _monitor(result: LoadResult, server_pid: int, window: tuple[int, int]) -> None:
    """Snapshot CPU counters at the start and the end of the measured window."""
    window_start, window_end = window
    await asyncio.sleep(max(0.0, (window_start - time.perf_counter_ns()) / 1e9))
    result.cpu_start = CpuSnapshot.take(server_pid, result.config.database_process)
    await asyncio.sleep(max(0.0, (window_end - time.perf_counter_ns()) / 1e9))
    result.cpu_end = CpuSnapshot.take(server_pid, result.config.database_process)


async def _run(cfg: LoadConfig, server_pid: int) -> LoadResult:
    """Run warm-up and measured window; cancel whatever is still running at the hard bound."""
    result = LoadResult(config=cfg)
    before = (time.process_time(), tree_cpu_seconds(server_pid))
    window_start = time.perf_counter_ns() + int(cfg.warmup_s * 1e9)
    window = (window_start, window_start + int(cfg.duration_s * 1e9))
    monitor = asyncio.create_task(_monitor(result, server_pid, window))
    workers = [asyncio.create_task(_worker(i, cfg, result, window)) for i in range(cfg.concurrency)]
    bound = cfg.warmup_s + cfg.duration_s + cfg.grace_s
    _done, pending = await asyncio.wait(workers, timeout=bound)
    if pending:
        result.stopped_by_bound = True
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    if not monitor.done():
        monitor.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await monitor
    result.run_cpu = (time.process_time() - before[0], tree_cpu_seconds(server_pid) - before[1])
    for task in workers:
        if task.done() and not task.cancelled() and task.exception() is not None:
            result.error("client bug", repr(task.exception()))
    return result


def _run_loop(coro: Coroutine[Any, Any, LoadResult]) -> LoadResult:
    """Run a coroutine on uvloop when it is installed, else on asyncio's default loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def run_load(cfg: LoadConfig, server_pid: int) -> LoadResult:
    """Drive the server with `cfg` and return what was observed (never runs past its bound)."""
    return _run_loop(_run(cfg, server_pid))
