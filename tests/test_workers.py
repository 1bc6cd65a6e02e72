"""`heron serve --workers N` (heron.workers): connections spread over the workers; restarts.

Real servers in subprocesses; which worker holds a connection is read from Linux's /proc.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from heron.workers import reuse_port_supported
from serverproc import ServerProcess, process_group_members

pytestmark = pytest.mark.skipif(
    not reuse_port_supported() or not Path("/proc/net/tcp").exists(),
    reason="SO_REUSEPORT balancing and /proc are Linux's",
)

CONNECTIONS = 16


def _socket_inodes(pid: int) -> set[int]:
    """Inodes of the sockets a process holds open."""
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(int(target[8:-1]))
    return found


def _accepted_inodes(server_port: int) -> dict[int, int]:
    """Client port -> inode of the server-side socket of each established connection."""
    accepted = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], int(fields[9])
        if state == "01" and int(local.split(":")[1], 16) == server_port:
            accepted[int(remote.split(":")[1], 16)] = inode
    return accepted


def _workers(server: ServerProcess) -> list[int]:
    """The worker processes: group members holding a listening socket on the server's port."""
    listening = {
        int(line.split()[9])
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
        if line.split()[3] == "0A" and int(line.split()[1].split(":")[1], 16) == server.port
    }
    return [
        pid
        for pid in process_group_members(server.pgid)
        if pid != server.pgid and _socket_inodes(pid) & listening
    ]


def _both_workers(server: ServerProcess) -> list[int]:
    """The two workers' pids, once both listen (they start a moment after the health check)."""
    deadline = time.monotonic() + 30
    while len(workers := _workers(server)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(workers) == 2, server.log_tail()
    return workers


def _connection_counts(server: ServerProcess, *, wait_for_workers_first: bool) -> dict[int, int]:
    """Open 16 keep-alive connections at once, a request on each: connections per worker."""
    workers = _both_workers(server) if wait_for_workers_first else []
    connections = [
        http.client.HTTPConnection(server.host, server.port, timeout=60) for _ in range(CONNECTIONS)
    ]
    for connection in connections:
        connection.connect()
    for connection in connections:  # a request on each: the connection is accepted
        connection.request("GET", "/healthz")
        assert connection.getresponse().read() == b'{"status":"ok"}'
    workers = workers or _both_workers(server)
    accepted = _accepted_inodes(server.port)
    per_worker = {pid: _socket_inodes(pid) for pid in workers}
    counts = dict.fromkeys(workers, 0)
    for connection in connections:
        inode = accepted[connection.sock.getsockname()[1]]
        owners = [pid for pid, inodes in per_worker.items() if inode in inodes]
        assert len(owners) == 1
        counts[owners[0]] += 1
    for connection in connections:
        connection.close()
    assert sum(counts.values()) == CONNECTIONS
    return counts


def test_keep_alive_connections_spread_over_the_workers(database_url: str, tmp_path: Path) -> None:
    """16 connections opened at once: every one of the 2 workers serves some of them."""
    with ServerProcess(database_url, tmp_path / "server.log", workers=2) as server:
        counts = _connection_counts(server, wait_for_workers_first=True)
    assert all(count > 0 for count in counts.values()), counts


def test_connections_made_while_a_worker_restarts_wait_for_it(
    database_url: str, tmp_path: Path
) -> None:
    """Regression: a missing worker's share of new connections waits for its replacement.

    Each worker used to open its own socket when it started. While one was (re)starting, the
    other was the only listener and took every new connection for good: bench/ingest.py's
    client connected as soon as the first worker answered and measured one worker of two.
    Now the parent holds every worker's listening socket from the start.
    """
    with ServerProcess(database_url, tmp_path / "server.log", workers=2) as server:
        victim = _both_workers(server)[0]
        os.kill(victim, signal.SIGKILL)
        time.sleep(0.1)  # it is gone; its replacement starts about a second later
        counts = _connection_counts(server, wait_for_workers_first=False)
    assert victim not in counts
    assert all(count > 0 for count in counts.values()), counts


def test_a_killed_worker_is_replaced(database_url: str, tmp_path: Path) -> None:
    """SIGKILL one worker: another starts and the server keeps answering on every worker."""
    with ServerProcess(database_url, tmp_path / "server.log", workers=2) as server:
        workers = _both_workers(server)
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = _workers(server)
            if len(now) == 2 and workers[0] not in now:
                break
            time.sleep(0.2)
        assert len(now) == 2 and workers[0] not in now, server.log_tail()
        connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
        connection.request("GET", "/healthz")
        assert connection.getresponse().status == 200
        connection.close()


def test_a_taken_port_fails_at_once_with_a_message(database_url: str) -> None:
    """Another program listens on the port: `heron serve --workers 2` exits 1 and says why."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        command = ["serve", "--port", str(port), "--workers", "2", "--database", database_url]
        done = subprocess.run(
            [sys.executable, "-m", "heron", *command],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "address already in use" in done.stderr.lower()
