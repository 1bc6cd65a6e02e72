"""Multi-row INSERT on SQLite: one statement step per block of rows instead of one per row.

`executemany` runs one statement step per row, and Python's sqlite3 releases and re-takes the
GIL around each step; inside a server process the writer thread then queues behind the event
loop for the GIL once per row. A `VALUES (...), (...)` list is one step for the whole block.
`bench/bulk_insert.py` measures both on 6-column event rows (docs/performance.md).

Blocks have power-of-two sizes, so a handful of statement texts cover every row count and stay
in the sqlite3 module's statement cache, and at most 999 variables (SQLite's oldest limit).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from itertools import chain
from typing import Any

MAX_VARIABLES = 999
MAX_BLOCK_ROWS = 256


@lru_cache(maxsize=256)
def _statement(head: str, width: int, rows: int, tail: str) -> str:
    """`head VALUES (?, ...), ... tail` for `rows` rows of `width` columns."""
    group = "(" + ", ".join(["?"] * width) + ")"
    return f"{head} VALUES {', '.join([group] * rows)}{tail}"


def block_rows(width: int) -> int:
    """The largest block (a power of two) for rows of `width` columns."""
    limit = min(MAX_BLOCK_ROWS, MAX_VARIABLES // width)
    return 1 << (limit.bit_length() - 1)


def insert_rows(
    cur: Any, head: str, rows: Sequence[Sequence[Any]], tail: str = ""
) -> list[tuple[Any, ...]]:
    """Run `head VALUES ... tail` over every row, in blocks; `head` names table and columns.

    `tail` may be an `ON CONFLICT ...` clause, and a `RETURNING` one: the rows every block
    returned are the result (empty without RETURNING). Rows of one call must not repeat a
    conflict key if the statement is meant for PostgreSQL too (SQLite applies them in order).
    """
    returned: list[tuple[Any, ...]] = []
    if not rows:
        return returned
    width = len(rows[0])
    largest = block_rows(width)
    start, count = 0, len(rows)
    while start < count:
        left = count - start
        size = largest if left >= largest else 1 << (left.bit_length() - 1)
        block = rows[start : start + size]
        cur.execute(_statement(head, width, size, tail), list(chain.from_iterable(block)))
        returned += cur.fetchall()
        start += size
    return returned
