"""`heron serve --workers N`: N uvicorn processes, each with its own SO_REUSEPORT listening socket.

uvicorn's own multi-process mode shares one listening socket among its workers. Whichever
worker wakes first accepts every connection of a burst, and keep-alive clients then stay on it
for good: in most runs of `bench/ingest.py` all 32 connections landed on one of two workers,
leaving the other core idle. With SO_REUSEPORT each worker has its own accept queue and the
kernel hashes every new connection to one of them, so connections spread evenly whatever their
timing. Where the platform has no SO_REUSEPORT (not Linux), `heron serve` uses uvicorn's mode.

The parent binds the port first without listening (connections only reach listening sockets),
so a taken port fails at once and the port stays reserved while a worker restarts. A worker
that exits unexpectedly is started again; SIGINT/SIGTERM stop every worker gracefully (each
stores and acknowledges what it already accepted, see heron.ingest.writer).
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import sys
import threading
import time
from multiprocessing.process import BaseProcess
from typing import Any

import uvicorn

log = logging.getLogger("heron.workers")

LISTEN_BACKLOG = 2048
STOP_TIMEOUT_SECONDS = 30.0
RESTART_DELAY_SECONDS = 1.0


def reuse_port_supported() -> bool:
    """True where SO_REUSEPORT balances connections across listening sockets (Linux)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def reuse_port_socket(host: str, port: int, *, listen: bool) -> socket.socket:
    """A TCP socket bound to (host, port) with SO_REUSEPORT, listening if asked."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        if listen:
            sock.listen(LISTEN_BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def _serve_one(config: dict[str, Any], host: str, port: int) -> None:
    """A worker process: its own listening socket, then uvicorn until told to stop."""
    sock = reuse_port_socket(host, port, listen=True)
    server = uvicorn.Server(uvicorn.Config(**config))
    server.run(sockets=[sock])


class WorkerPool:
    """Starts, watches and stops the worker processes of one `heron serve`."""

    def __init__(self, config: dict[str, Any], host: str, port: int, workers: int) -> None:
        """`config`: uvicorn.Config keyword arguments (picklable: they cross to each worker)."""
        self._config = config
        self._host = host
        self._port = port
        self._count = workers
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[BaseProcess] = []
        self._stop = threading.Event()

    def run(self) -> None:
        """Serve until SIGINT or SIGTERM; returns after every worker has stopped."""
        reserved = reuse_port_socket(self._host, self._port, listen=False)
        self._port = int(reserved.getsockname()[1])
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self._stop.set())
        try:
            self._processes = [self._start() for _ in range(self._count)]
            while not self._stop.wait(0.5):
                self._replace_dead()
        finally:
            self._stop_all()
            reserved.close()

    def _start(self) -> BaseProcess:
        """Start one worker process."""
        process = self._context.Process(
            target=_serve_one, args=(self._config, self._host, self._port), daemon=False
        )
        process.start()
        return process

    def _replace_dead(self) -> None:
        """Start a new worker for each one that exited while serving."""
        for index, process in enumerate(self._processes):
            if process.is_alive():
                continue
            log.warning(
                "worker %s exited with code %s; starting another", process.pid, process.exitcode
            )
            time.sleep(RESTART_DELAY_SECONDS)
            if self._stop.is_set():
                return
            self._processes[index] = self._start()

    def _stop_all(self) -> None:
        """SIGTERM every worker (graceful), then wait; kill what outlives the timeout."""
        for process in self._processes:
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for process in self._processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.error("worker %s did not stop in time; killing it", process.pid)
                process.kill()
                process.join()
