"""Cost of the user-history indexer (heron.users.history_index): passes and merge chunks.

Run: `.venv/bin/python bench/history_runs.py [--tail 400000]`. Copies bench/ingest.py's cached
10M-event SQLite prefill (build it first with `bench/ingest.py --build-cache-only`), appends
`--tail` raw events (copies of the newest rows), then steps the indexer until it has nothing
left to do, timing every step (one pass or one merge transaction, synchronous=FULL, as the
server's writer runs them) and printing p50 / max / total per kind of step and the runs left.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from benchlib import prefill  # noqa: E402
from heron.store.engine import make_engine  # noqa: E402
from heron.store.schema import HISTORY_EVENT  # noqa: E402
from heron.users import history_index  # noqa: E402


def main() -> None:
    """Parse flags, prepare the copy, step the indexer, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tail", type=int, default=400_000, help="raw events to index")
    parser.add_argument("--prefill", type=int, default=10_000_000)
    args = parser.parse_args()
    built = prefill.sqlite_prefill(args.prefill, print)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "history.db"
        shutil.copy(built.path, path)
        engine = make_engine(f"sqlite:///{path}")
        with engine.begin() as conn:
            top = conn.execute(text("SELECT max(id) FROM events")).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO events (workspace_id, user_id, event_id, app_id, time_ms, "
                    "properties) SELECT workspace_id, user_id, event_id, app_id, time_ms, "
                    "properties FROM events WHERE id > :low ORDER BY id"
                ),
                {"low": top - args.tail},
            )
        steps: dict[str, list[float]] = {"pass": [], "merge": []}
        with engine.connect() as conn:
            while True:
                upto = history_index.read_state(conn, HISTORY_EVENT).indexed_upto
                conn.rollback()
                started = time.perf_counter()
                if not history_index.index_step(conn, force=True):
                    break
                elapsed = (time.perf_counter() - started) * 1000
                moved = history_index.read_state(conn, HISTORY_EVENT).indexed_upto != upto
                conn.rollback()
                steps["pass" if moved else "merge"].append(elapsed)
            runs = history_index.runs(conn, HISTORY_EVENT)
        engine.dispose()
    print(f"{args.tail:,} raw events indexed on a {built.events:,}-event prefill")
    for kind, times in steps.items():
        if times:
            times.sort()
            print(
                f"{kind:<6} {len(times):>5} transactions  p50 {times[len(times) // 2]:7.1f} ms"
                f"  max {times[-1]:7.1f} ms  total {sum(times) / 1000:6.1f} s"
                f"  ({sum(times) * 1000 / args.tail:.1f} us per indexed event)"
            )
    for run in runs:
        print(f"run {run.run:>6}  level {run.level}  {run.rows:>12,} rows")


if __name__ == "__main__":
    main()
