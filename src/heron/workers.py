"""`heron serve --workers N`: N uvicorn processes, each with its own SO_REUSEPORT listening socket.

uvicorn's own multi-process mode shares one listening socket among its workers. Whichever
worker wakes first accepts every connection of a burst, and keep-alive clients then stay on it
for good: in most runs of `bench/ingest.py` all 32 connections landed on one of two workers,
leaving the other core idle. With SO_REUSEPORT each worker has its own accept queue and the
kernel hashes every new connection to one of them, so connections spread evenly whatever their
timing. Where the platform has no SO_REUSEPORT (not Linux), `heron serve` uses uvicorn's mode.

The parent opens every worker's socket, listening, before it starts any worker, and hands each
worker its own. Had each worker opened its socket when it started, the first worker up would
be the only listener for a moment, and clients that connect as soon as the server answers (a
connection pool warming up, bench/ingest.py) would all land on it and stay there. A
connection that arrives before its worker is up waits in that socket's accept queue. Opening
the sockets first also makes a taken port fail at once. A worker that exits unexpectedly is
replaced by one on the same socket; SIGINT/SIGTERM stop every worker gracefully (each stores
and acknowledges what it already accepted, see heron.ingest.writer).
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


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket listening on (host, port) with SO_REUSEPORT."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(LISTEN_BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def _serve_one(config: dict[str, Any], sock: socket.socket) -> None:
    """A worker process: uvicorn on the listening socket the parent opened for it."""
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
        self._sockets: list[socket.socket] = []
        self._stop = threading.Event()

    def run(self) -> None:
        """Serve until SIGINT or SIGTERM; returns after every worker has stopped."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self._stop.set())
        try:
            self._open_sockets()
            self._processes = [self._start(sock) for sock in self._sockets]
            while not self._stop.wait(0.5):
                self._replace_dead()
        finally:
            self._stop_all()
            for sock in self._sockets:
                sock.close()

    def _open_sockets(self) -> None:
        """One listening socket per worker, all on one port (the first picks it for port 0)."""
        port = self._port
        for _ in range(self._count):
            sock = reuse_port_socket(self._host, port)
            self._sockets.append(sock)
            port = int(sock.getsockname()[1])
        self._port = port

    def _start(self, sock: socket.socket) -> BaseProcess:
        """Start one worker process serving `sock`."""
        process = self._context.Process(target=_serve_one, args=(self._config, sock), daemon=False)
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
            self._processes[index] = self._start(self._sockets[index])

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
