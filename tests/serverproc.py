"""A real `heron serve` subprocess for end-to-end tests: free port, health wait, log, kill.

The server runs in its own process group (a new session), so `kill()` (SIGKILL) and `stop()`
(SIGTERM) reach uvicorn's worker processes as well when `--workers` is above 1. Its stdout and
stderr go to a log file that survives restarts (each start appends a header), to be shown when
a test fails.

Example:
    >>> key = heron_cli("keys", "create", "--name", "t", "--database", url)  # doctest: +SKIP
    >>> with ServerProcess(url, tmp_path / "server.log") as server:  # doctest: +SKIP
    ...     httpx.post(f"{server.base_url}/users/track", json=body, headers=auth(key))
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import httpx

__all__ = ["ServerError", "ServerProcess", "free_port", "heron_cli", "process_group_members"]

_HEALTH_POLL_SECONDS = 0.05
_START_ATTEMPTS = 3  # a port picked by `free_port` can be taken before the server binds it


class ServerError(RuntimeError):
    """The server did not start, did not become healthy, or did not die in time."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def heron_cli(*args: str, env: Mapping[str, str] | None = None, timeout: float = 60.0) -> str:
    """Run `python -m heron ARGS` to completion and return its stripped stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "heron", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise ServerError(f"heron {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return done.stdout.strip()


def process_group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group; reads /proc, else probes the group."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended while we looked
            continue
        # Fields after "(comm)": state, ppid, pgrp, ...; comm itself may contain spaces.
        state, _ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == pgid and state not in ("Z", "X"):
            members.append(int(entry.name))
    return members


class ServerProcess:
    """One `heron serve` on a free 127.0.0.1 port; a context manager that always kills it."""

    def __init__(
        self,
        database_url: str,
        log_path: Path,
        *,
        workers: int = 1,
        env: Mapping[str, str] | None = None,
        log_level: str = "warning",
    ) -> None:
        self.database_url = database_url
        self.log_path = log_path
        self.workers = workers
        self.env = {"HERON_RATE_LIMITS": "off", "PYTHONUNBUFFERED": "1", **(env or {})}
        self.log_level = log_level
        self.host = "127.0.0.1"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._starts = 0

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT` of the running server."""
        return f"http://{self.host}:{self.port}"

    @property
    def pgid(self) -> int:
        """The server's process group id (its own pid: it leads a new session)."""
        if self.process is None:
            raise ServerError("the server is not running")
        return self.process.pid

    def start(self, timeout: float = 30.0) -> ServerProcess:
        """Start the server and wait until `GET /healthz` answers 200; retry a taken port."""
        if self.process is not None:
            raise ServerError("the server is already running")
        deadline = time.monotonic() + timeout
        for attempt in range(_START_ATTEMPTS):
            self._spawn()
            try:
                self._wait_healthy(deadline)
                return self
            except ServerError:
                self.kill()
                if attempt + 1 == _START_ATTEMPTS or "address already in use" not in (
                    self._last_start_log().lower()
                ):
                    raise
        raise AssertionError("unreachable")

    def _spawn(self) -> None:
        """Launch `heron serve` on a fresh port in a new session, appending to the log."""
        self.port = free_port(self.host)
        self._starts += 1
        command = [
            sys.executable,
            "-m",
            "heron",
            "serve",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--database",
            self.database_url,
            "--workers",
            str(self.workers),
            "--log-level",
            self.log_level,
        ]
        env = {k: v for k, v in os.environ.items() if k != "HERON_DATABASE_URL"}
        env.update(self.env)
        with self.log_path.open("ab") as log:
            log.write(f"=== start {self._starts}: port {self.port} ===\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )

    def _wait_healthy(self, deadline: float) -> None:
        """Poll `/healthz` until 200, the process exits, or the deadline passes."""
        assert self.process is not None
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise ServerError(
                        f"heron serve exited {self.process.returncode}:\n{self.log_tail()}"
                    )
                try:
                    if client.get(f"{self.base_url}/healthz").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(_HEALTH_POLL_SECONDS)
        raise ServerError(f"heron serve not healthy in time:\n{self.log_tail()}")

    def kill(self, timeout: float = 10.0) -> None:
        """SIGKILL the whole process group and wait until none of it is alive (idempotent)."""
        if self.process is None:
            return
        pgid = self.pgid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        self._reap(pgid, timeout)

    def stop(self, timeout: float = 15.0) -> int | None:
        """Graceful shutdown (SIGTERM to the group), SIGKILL if slow; returns the exit code."""
        if self.process is None:
            return None
        process, pgid = self.process, self.pgid
        try:
            os.killpg(pgid, signal.SIGTERM)
            process.wait(timeout)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
        self._reap(pgid, timeout)
        return process.returncode

    def _reap(self, pgid: int, timeout: float) -> None:
        """Wait for the main process and every other member of its group to be gone."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise ServerError(f"heron serve (pid {self.process.pid}) did not exit") from None
        while process_group_members(pgid):
            if time.monotonic() > deadline:
                raise ServerError(f"processes of group {pgid} still alive after {timeout}s")
            time.sleep(0.02)
        self.process = None

    def log(self) -> str:
        """Everything the server wrote so far (all starts)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        """The last lines of the log, for failure messages."""
        return "\n".join(self.log().splitlines()[-lines:])

    def _last_start_log(self) -> str:
        """The log written since the most recent start."""
        return self.log().rsplit("=== start ", 1)[-1]

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.kill()
