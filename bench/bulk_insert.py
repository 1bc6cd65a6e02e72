"""SQLite row inserts: `executemany` against heron.store.bulk's multi-row VALUES blocks.

Inserts 6-column event rows (like heron's `events`) in transactions of 1,200 rows, first with
nothing else running, then with a second Python thread busy the whole time (what a server
process's event loop is to its writer thread), and prints wall and CPU microseconds per row.
`executemany` steps the statement once per row and Python's sqlite3 releases and re-takes the
GIL around every step, so under a busy thread the writer waits for the GIL once per row.

    .venv/bin/python bench/bulk_insert.py
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable

from heron.store.bulk import insert_rows

COLUMNS = "workspace_id, user_id, event_id, app_id, time_ms, properties"
PROPERTIES = '{"s":"hello world","i":42,"f":3.14,"b":true,"t":"x"}'


def _connection(path: str) -> sqlite3.Connection:
    """A WAL database with an `events` table shaped like heron's."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")  # measure the inserts, not the disk
    conn.execute(
        "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, workspace_id INTEGER, "
        "user_id INTEGER, event_id INTEGER, app_id INTEGER, time_ms INTEGER, properties TEXT)"
    )
    return conn


def _spin(stop: threading.Event) -> None:
    """Keep the GIL busy with pure-Python work until told to stop."""
    total = 0
    while not stop.is_set():
        for n in range(1000):
            total += n * n


def _measure(write: Callable[[], None], transactions: int, rows: int) -> tuple[float, float]:
    """(wall, CPU of this thread) in microseconds per row over `transactions` writes."""
    wall, cpu = time.perf_counter(), time.thread_time()
    for _ in range(transactions):
        write()
    per_row = 1e6 / (transactions * rows)
    return (time.perf_counter() - wall) * per_row, (time.thread_time() - cpu) * per_row


def main() -> None:
    """Run both methods idle and with a busy thread; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1200, help="rows per transaction")
    parser.add_argument("--transactions", type=int, default=50)
    args = parser.parse_args()
    rows = [(1, n, n % 500, 3, 1_700_000_000_000 + n, PROPERTIES) for n in range(args.rows)]
    with tempfile.TemporaryDirectory() as tmp:
        conn = _connection(os.path.join(tmp, "bulk.db"))

        def executemany() -> None:
            conn.execute("BEGIN")
            conn.executemany(f"INSERT INTO events ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", rows)
            conn.execute("COMMIT")

        def blocks() -> None:
            conn.execute("BEGIN")
            insert_rows(conn.cursor(), f"INSERT INTO events ({COLUMNS})", rows)
            conn.execute("COMMIT")

        print(f"sqlite {sqlite3.sqlite_version}, {args.rows} rows x {args.transactions} tx")
        for busy in (False, True):
            stop = threading.Event()
            if busy:
                threading.Thread(target=_spin, args=(stop,), daemon=True).start()
            for name, write in (("executemany", executemany), ("VALUES blocks", blocks)) * 2:
                wall, cpu = _measure(write, args.transactions, args.rows)
                label = "busy thread" if busy else "alone"
                print(f"{label:12s} {name:14s} wall {wall:6.2f} us/row   cpu {cpu:5.2f} us/row")
            stop.set()
        conn.close()


if __name__ == "__main__":
    main()
