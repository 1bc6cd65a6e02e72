"""heron.store.bulk: multi-row VALUES blocks insert exactly the rows given, in order."""

from __future__ import annotations

import sqlite3

import pytest

from heron.store.bulk import MAX_VARIABLES, block_rows, insert_rows


@pytest.mark.parametrize("count", [0, 1, 3, 127, 128, 129, 255, 256, 257, 1000, 1201])
def test_every_row_is_inserted_once_in_order(count: int) -> None:
    """Counts around the block sizes: the table holds exactly the rows, in insertion order."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a, b, c, d, e, f)")
    rows = [(n, f"s{n}", n * 0.5, None, n % 7 == 0, b"x") for n in range(count)]
    insert_rows(conn.cursor(), "INSERT INTO t (a, b, c, d, e, f)", rows)
    stored = conn.execute("SELECT a, b, c, d, e, f FROM t ORDER BY id").fetchall()
    assert stored == [(n, s, c, d, int(e), f) for n, s, c, d, e, f in rows]


def test_tail_clause_upserts() -> None:
    """An ON CONFLICT tail applies to every block (how rollups add their counts)."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE r (k INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
    head = "INSERT INTO r (k, n)"
    tail = " ON CONFLICT (k) DO UPDATE SET n = r.n + excluded.n"
    insert_rows(conn.cursor(), head, [(k, 1) for k in range(300)], tail)
    insert_rows(conn.cursor(), head, [(k, 2) for k in range(0, 300, 3)], tail)
    assert dict(conn.execute("SELECT k, n FROM r").fetchall()) == {
        k: 3 if k % 3 == 0 else 1 for k in range(300)
    }


def test_blocks_stay_under_the_variable_limit() -> None:
    """Wide rows get smaller blocks: never more than SQLite's oldest 999-variable limit."""
    for width in (1, 5, 6, 9, 40, 999):
        size = block_rows(width)
        assert size * width <= MAX_VARIABLES
        assert size & (size - 1) == 0  # a power of two


def test_returning_rows_come_back_from_every_block() -> None:
    """A RETURNING tail: the rows of all blocks are returned (how the KPI upsert reads them)."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE k (id INTEGER PRIMARY KEY, v INTEGER)")
    returned = insert_rows(
        conn.cursor(), "INSERT INTO k (id, v)", [(n, n * 2) for n in range(300)], " RETURNING id"
    )
    assert sorted(r[0] for r in returned) == list(range(300))
    assert insert_rows(conn.cursor(), "INSERT INTO k (id, v)", [(1000, 1)]) == []
