"""Server processes under test: start, wait for health, sample RSS and CPU, stop."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _http_status(host: str, port: int, path: str, timeout: float) -> int | None:
    """Status of a plain `GET path` over a fresh connection, or None when nothing answers."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(
                f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
            )
            head = sock.recv(64)
    except OSError:
        return None
    if not head.startswith(b"HTTP/1."):
        return None
    try:
        return int(head[9:12])
    except ValueError:
        return None


class ServerProcess:
    """One server (and its worker processes) started in its own session, logging to a file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        """Remember how to start the server; nothing runs until `start`."""
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Launch the server in a new session so its whole group can be stopped together."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        """The server's main process id."""
        assert self.proc is not None, "server not started"
        return self.proc.pid

    def wait_healthy(self, host: str, port: int, timeout: float = 120.0) -> None:
        """Poll `GET /healthz` until it answers 200; raise if the process dies or time runs out."""
        assert self.proc is not None, "server not started"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode} before it was healthy;"
                    f" log {self.log_path}:\n{self.log_tail()}"
                )
            if _http_status(host, port, "/healthz", timeout=2.0) == 200:
                return
            time.sleep(0.2)
        raise RuntimeError(
            f"{self.name} not healthy after {timeout:.0f} s;"
            f" log {self.log_path}:\n{self.log_tail()}"
        )

    def stop(self, grace: float = 30.0) -> int | None:
        """SIGTERM the server and wait for it to finish its commits; SIGKILL its group if stuck."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        # Workers left behind by a crashed parent share its process group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        return self.proc.returncode

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server's log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _tree(pid: int) -> list[psutil.Process]:
    """A process and all its descendants (those still alive)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds used so far by a process tree."""
    total = 0.0
    for proc in _tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


@dataclass(slots=True)
class RssPeak:
    """Peak resident memory of a process tree, summed over its processes."""

    peak_bytes: int = 0
    peak_processes: int = 0
    samples: int = 0


class RssSampler:
    """Samples a server tree's total RSS in a background thread (10 times a second)."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        """Prepare sampling `pid` and its descendants."""
        self.pid = pid
        self.interval = interval
        self.result = RssPeak()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        """Start sampling."""
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        """Stop sampling (one last sample is taken first)."""
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        """Sample until stopped."""
        while True:
            self.sample()
            if self._stop.wait(self.interval):
                self.sample()
                return

    def sample(self) -> None:
        """Take one sample now."""
        total = 0
        procs = _tree(self.pid)
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                total += proc.memory_info().rss
        self.result.samples += 1
        if total > self.result.peak_bytes:
            self.result.peak_bytes = total
            self.result.peak_processes = len(procs)
