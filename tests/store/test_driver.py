"""`heron.store.driver`: positional driver-level statements and id lists of any length."""

from __future__ import annotations

import random

from sqlalchemy import text
from sqlalchemy.engine import Engine

from heron.store.driver import fetch, in_ids, mark


def test_id_lists_longer_than_any_placeholder_limit(engine: Engine) -> None:
    """30,000 ids in one parameter (SQLite's old limit was 999 placeholders) find exactly the
    stored ones, with other positional parameters before and after the list."""
    rng = random.Random(3)
    stored = sorted(rng.sample(range(1, 200_000), 40_000))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE driver_probe (id BIGINT PRIMARY KEY, tag INTEGER)"))
        conn.execute(
            text("INSERT INTO driver_probe (id, tag) VALUES (:i, :t)"),
            [{"i": i, "t": i % 3} for i in stored],
        )
    asked = rng.sample(range(1, 200_000), 30_000)
    with engine.connect() as conn:
        where, params = in_ids(conn, "id", asked)
        rows = fetch(
            conn,
            f"SELECT id FROM driver_probe WHERE tag >= {mark(conn)} AND {where} "
            f"AND id > {mark(conn)} ORDER BY id",
            [0, *params, 0],
        )
        none, none_params = in_ids(conn, "id", [])
        empty = fetch(conn, f"SELECT id FROM driver_probe WHERE {none}", none_params)
    assert [r[0] for r in rows] == sorted(set(asked) & set(stored))
    assert empty == []
