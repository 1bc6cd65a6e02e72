"""`heron.store.driver`: positional driver-level statements and id lists of any length."""

from __future__ import annotations

import random

from sqlalchemy import text
from sqlalchemy.engine import Engine

from heron.segments.consumer import BUCKET_SECONDS, _bucket_sql
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


def test_bucket_sql_floors_like_python(engine: Engine) -> None:
    """The rollup bucket expression floors on both backends, before 1970 too."""
    span = BUCKET_SECONDS * 1000
    values = [
        0,
        1,
        999,
        span - 1,
        span,
        span + 1,
        -1,
        -999,
        -1000,
        -span,
        -span - 1,
        1_772_359_199_999,
        1_772_359_200_000,
        -62_135_596_800_000,
    ]
    with engine.connect() as conn:
        for value in values:
            got = conn.execute(text(f"SELECT {_bucket_sql(':v')}"), {"v": value}).scalar_one()
            second = value // 1000
            assert int(got) == second - second % BUCKET_SECONDS, value
