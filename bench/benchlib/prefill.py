"""Prefilled databases: a cached SQLite file with N events of history, and a PostgreSQL twin."""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchlib import dataset

CACHE_DIR = Path(__file__).resolve().parents[1] / ".cache"
_CHUNK = 100_000
_PROPERTIES_POOL = 8192
_TEMPLATE_PREFIX = "heron_bench_tpl_"
_TEMPLATE_DONE = "heron bench template: complete"
# Tables copied from the SQLite prefill into PostgreSQL, parents first (the workspace row
# comes from the migration itself).
# heron adds to event_rollups_recent and folds closed hours into event_rollups_hourly.
ROLLED_ALL_APPS_SQL = (
    "SELECT coalesce(sum(count), 0) FROM (SELECT count FROM event_rollups_hourly "
    "WHERE app_id = 0 UNION ALL SELECT count FROM event_rollups_recent WHERE app_id = 0) AS t"
)
_COPIED_TABLES = (
    "apps",
    "users",
    "custom_events",
    "events",
    "event_rollups_hourly",
    "user_history",
    "user_history_state",
    "user_history_runs",
    "event_rollups_daily",
)

Log = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Prefill:
    """A prefilled SQLite file in the cache and what it holds."""

    path: Path
    events: int
    max_event_id: int
    size_bytes: int
    schema_mode: str  # how the schema was created (heron's migrations or bare metadata)
    built_now: bool
    build_seconds: float  # of the cached build (this run's or an earlier one's)
    rollup_rows: int


def heron_cli() -> list[str] | None:
    """The argv prefix that runs heron's CLI, or None while the package has no CLI."""
    if importlib.util.find_spec("heron.cli") is None:
        return None
    script = Path(sys.executable).with_name("heron")
    return [str(script)] if script.exists() else [sys.executable, "-m", "heron"]


def run_heron(args: list[str], env: dict[str, str] | None = None, timeout: float = 300) -> str:
    """Run one heron CLI command and return its stdout (raising with its stderr on failure)."""
    cli = heron_cli()
    if cli is None:
        raise RuntimeError("heron has no CLI yet (heron.cli is missing)")
    done = subprocess.run(
        [*cli, *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"`heron {' '.join(args)}` exited {done.returncode}:\n{done.stderr[-4000:]}"
        )
    return done.stdout


def _schema_mode() -> str:
    """How this machine can create heron's schema: its migrations (CLI or module) or metadata."""
    if heron_cli() is not None or importlib.util.find_spec("heron.store.migrate") is not None:
        return "migrations"
    return "metadata"


def schema_fingerprint() -> str:
    """Hash of schema.py, heron's migrations and the generator version (the cache key)."""
    spec = importlib.util.find_spec("heron.store.schema")
    if spec is None or spec.origin is None:
        raise RuntimeError("heron.store.schema is not importable; run with the project's venv")
    schema_path = Path(spec.origin)
    digest = hashlib.sha256(f"gen{dataset.GENERATOR_VERSION}:{_schema_mode()}".encode())
    migrations = sorted((schema_path.parent / "migrations").rglob("*.py"))
    for path in [schema_path, *migrations]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def create_schema(url: str) -> str:
    """Create heron's schema at `url` the way heron does; return how it was done."""
    if heron_cli() is not None:
        run_heron(["db", "upgrade", "--database", url])
        return "heron db upgrade"
    if importlib.util.find_spec("heron.store.migrate") is not None:
        from heron.store import engine as heron_engine
        from heron.store import migrate

        engine = heron_engine.make_engine(url)
        try:
            migrate.upgrade(engine)
        finally:
            engine.dispose()
        return "heron.store.migrate.upgrade (no CLI yet)"
    from sqlalchemy import create_engine, insert

    from heron.store.schema import metadata, workspaces

    engine = create_engine(url)
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(
                insert(workspaces).values(
                    id=dataset.WORKSPACE_ID, name="default", created_at_ms=_now_ms()
                )
            )
    finally:
        engine.dispose()
    return "metadata.create_all (no migrations yet)"


def _now_ms() -> int:
    """Wall-clock time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def sqlite_prefill(events: int, log: Log) -> Prefill:
    """Return the cached prefilled SQLite file for `events`, building it when missing."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    stem = f"heron-sqlite-{events}-{schema_fingerprint()}"
    path = CACHE_DIR / f"{stem}.db"
    meta_path = CACHE_DIR / f"{stem}.json"
    built_now = False
    if not (path.exists() and meta_path.exists()):
        _drop_stale(events, stem, log)
        log(f"building prefill cache {path.name} ({events:,} events); done once per schema")
        started = time.perf_counter()
        tmp = CACHE_DIR / f"{stem}.building-{os.getpid()}.db"
        try:
            mode, stats = _build_sqlite(tmp, events, log)
        except BaseException:
            for leftover in (
                tmp,
                tmp.with_name(tmp.name + "-wal"),
                tmp.with_name(tmp.name + "-shm"),
            ):
                leftover.unlink(missing_ok=True)
            raise
        os.replace(tmp, path)
        stats.update(schema_mode=mode, build_seconds=round(time.perf_counter() - started, 1))
        meta_path.write_text(json.dumps(stats, indent=2))
        built_now = True
        log(
            f"prefill cache built in {stats['build_seconds']} s: {path.stat().st_size / 1e9:.2f} GB"
        )
    meta = json.loads(meta_path.read_text())
    return Prefill(
        path=path,
        events=int(meta["events"]),
        max_event_id=int(meta["max_event_id"]),
        size_bytes=path.stat().st_size,
        schema_mode=str(meta["schema_mode"]),
        built_now=built_now,
        build_seconds=float(meta["build_seconds"]),
        rollup_rows=int(meta["rollup_rows"]),
    )


def _drop_stale(events: int, keep_stem: str, log: Log) -> None:
    """Delete cached prefills of the same size made for an older schema or generator."""
    for old in CACHE_DIR.glob(f"heron-sqlite-{events}-*"):
        if not old.name.startswith(keep_stem) and ".building-" not in old.name:
            log(f"removing stale cache {old.name}")
            old.unlink(missing_ok=True)


def _build_sqlite(path: Path, events: int, log: Log) -> tuple[str, dict[str, Any]]:
    """Create the schema with heron, then fill every table in big unjournaled transactions."""
    mode = create_schema(f"sqlite:///{path}")
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        # A half-built file is thrown away, so the fill skips the journal; WAL is set at the end.
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")
        row = conn.execute("SELECT id FROM workspaces WHERE name = 'default'").fetchone()
        if row is None or row[0] != dataset.WORKSPACE_ID:
            raise RuntimeError(f"expected the default workspace to have id 1, found {row}")
        end_ms = _now_ms() - 60_000
        start_ms = end_ms - dataset.HISTORY_DAYS * 86_400_000
        catalog = dataset.make_catalog()
        step = time.perf_counter()
        conn.execute("BEGIN")
        _fill_identities(conn, catalog, start_ms)
        conn.execute("COMMIT")
        log(f"  apps, users, custom_events: {time.perf_counter() - step:.1f} s")
        step = time.perf_counter()
        conn.execute("BEGIN")
        for done in _fill_events(conn, catalog, events, start_ms, end_ms):
            if done % 2_000_000 == 0 or done == events:
                log(f"  events: {done:,} ({time.perf_counter() - step:.0f} s)")
        conn.execute("COMMIT")
        step = time.perf_counter()
        conn.execute("BEGIN")
        rollup_rows = _fill_rollups(conn)
        conn.execute("COMMIT")
        log(
            f"  rollups ({rollup_rows:,} rows), first/last seen: {time.perf_counter() - step:.1f} s"
        )
        step = time.perf_counter()
        conn.execute("BEGIN")
        _fill_user_history(conn)
        conn.execute("COMMIT")
        log(f"  user history index: {time.perf_counter() - step:.1f} s")
        max_id = conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchall()[0][0]
    finally:
        conn.close()
    # WAL is persistent in the file header; the fresh connection leaves no WAL content behind.
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL").fetchall()
    finally:
        conn.close()
    stats: dict[str, Any] = {
        "events": events,
        "max_event_id": max_id,
        "rollup_rows": rollup_rows,
        "users": dataset.USERS,
        "event_names": dataset.EVENT_NAMES,
        "apps": dataset.APPS,
        "history_start_ms": start_ms,
        "history_end_ms": end_ms,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return mode, stats


def _fill_identities(conn: sqlite3.Connection, catalog: dataset.Catalog, start_ms: int) -> None:
    """Insert the 10 apps, 100k users and 500 custom event names."""
    ws = dataset.WORKSPACE_ID
    conn.executemany(
        "INSERT INTO apps (id, workspace_id, api_id, name, created_at_ms) VALUES (?, ?, ?, ?, ?)",
        [
            (i, ws, api_id, f"bench-app-{i}", start_ms)
            for i, api_id in enumerate(catalog.app_api_ids, start=1)
        ],
    )
    rng = random.Random(dataset.CATALOG_SEED + 1)
    seen: set[str] = set()
    users: list[tuple[int, int, str, str, int, int]] = []
    for n in range(1, dataset.USERS + 1):
        bid = dataset.braze_id(rng)
        while bid in seen:
            bid = dataset.braze_id(rng)
        seen.add(bid)
        users.append((n, ws, bid, f"user-{n}", start_ms, start_ms))
    conn.executemany(
        "INSERT INTO users (id, workspace_id, braze_id, external_id, created_at_ms,"
        " updated_at_ms, standard, custom) VALUES (?, ?, ?, ?, ?, ?, '{}', '{}')",
        users,
    )
    conn.executemany(
        "INSERT INTO custom_events (id, workspace_id, name, created_at_ms) VALUES (?, ?, ?, ?)",
        [(i, ws, name, start_ms) for i, name in enumerate(catalog.event_names, start=1)],
    )


def _fill_events(
    conn: sqlite3.Connection, catalog: dataset.Catalog, events: int, start_ms: int, end_ms: int
) -> Iterator[int]:
    """Append `events` rows in time order (as they would have arrived); yield progress."""
    rng = random.Random(dataset.CATALOG_SEED + 2)
    pool = dataset.properties_pool(_PROPERTIES_POOL, dataset.CATALOG_SEED + 3)
    event_ids = range(1, dataset.EVENT_NAMES + 1)
    app_choices: list[int | None] = [*range(1, dataset.APPS + 1), None]
    app_weights = dataset.history_app_cum_weights(catalog)
    span = end_ms - start_ms
    jitter = max(1, min(600_000, span // max(events, 1) * 50))
    rnd = rng.random
    users = dataset.USERS
    insert = (
        "INSERT INTO events (workspace_id, user_id, event_id, app_id, time_ms, properties)"
        " VALUES (?, ?, ?, ?, ?, ?)"
    )
    for base in range(0, events, _CHUNK):
        count = min(_CHUNK, events - base)
        rows = zip(
            itertools.repeat(dataset.WORKSPACE_ID, count),
            [int(rnd() * users) + 1 for _ in range(count)],
            rng.choices(event_ids, cum_weights=catalog.event_cum_weights, k=count),
            rng.choices(app_choices, cum_weights=app_weights, k=count),
            [
                min(end_ms, start_ms + (base + i) * span // events + int(rnd() * jitter))
                for i in range(count)
            ],
            rng.choices(pool, k=count),
            strict=True,
        )
        conn.executemany(insert, rows)
        yield base + count


def _fill_user_history(conn: sqlite3.Connection) -> None:
    """Index every prefilled event by user, as heron's indexer would have by now: one big run."""
    from heron.store.schema import HISTORY_EVENT
    from heron.users import history_index

    run = 4 + HISTORY_EVENT  # the first run id of the kind (heron.users.history_index)
    rows = conn.execute(
        "INSERT INTO user_history (run, user_id, kind, time_ms, row_id, item_id) "
        f"SELECT {run}, user_id, {HISTORY_EVENT}, time_ms, id, event_id FROM events "
        "ORDER BY user_id, time_ms, id"
    ).rowcount
    conn.execute(
        "INSERT INTO user_history_runs (run, kind, level, rows) VALUES (?, ?, ?, ?)",
        (run, HISTORY_EVENT, history_index.level_of(rows), rows),
    )
    conn.execute(
        "UPDATE user_history_state SET indexed_upto = (SELECT coalesce(max(id), 0) FROM events), "
        "next_run = 2, passed_at_ms = ? WHERE kind = ?",
        (_now_ms(), HISTORY_EVENT),
    )


def _fill_rollups(conn: sqlite3.Connection) -> int:
    """Write hourly rollups (all-apps row 0 plus one per app) and first/last seen from events."""
    conn.execute(
        "CREATE TEMP TABLE bench_agg AS SELECT workspace_id AS w, event_id AS e, app_id AS a,"
        " (time_ms / 3600000) * 3600 AS h, count(*) AS c, min(time_ms) AS f, max(time_ms) AS l"
        " FROM events GROUP BY workspace_id, event_id, app_id, time_ms / 3600000"
    )
    conn.execute(
        "INSERT INTO event_rollups_hourly (workspace_id, event_id, app_id, hour, count)"
        " SELECT w, e, 0, h, sum(c) FROM bench_agg GROUP BY w, e, h ORDER BY w, e, h"
    )
    conn.execute(
        "INSERT INTO event_rollups_hourly (workspace_id, event_id, app_id, hour, count)"
        " SELECT w, e, a, h, c FROM bench_agg WHERE a IS NOT NULL ORDER BY w, e, a, h"
    )
    if conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'event_rollups_daily'"
    ).fetchone():
        # heron keeps the hourly rows summed per local day too; the bench workspace is in UTC.
        conn.execute(
            "INSERT INTO event_rollups_daily (workspace_id, event_id, app_id, day, count)"
            " SELECT workspace_id, event_id, app_id, hour - hour % 86400, sum(count)"
            " FROM event_rollups_hourly GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
        )
    conn.execute(
        "CREATE TEMP TABLE bench_seen AS SELECT e, min(f) AS f, max(l) AS l"
        " FROM bench_agg GROUP BY e"
    )
    conn.execute(
        "UPDATE custom_events SET"
        " first_seen_ms = (SELECT f FROM bench_seen WHERE e = custom_events.id),"
        " last_seen_ms = (SELECT l FROM bench_seen WHERE e = custom_events.id)"
    )
    conn.execute("DROP TABLE bench_agg")
    conn.execute("DROP TABLE bench_seen")
    return int(conn.execute("SELECT count(*) FROM event_rollups_hourly").fetchone()[0])


def fresh_sqlite_copy(prefill: Prefill, name: str) -> Path:
    """Copy the cached file to `.cache/run/<name>.db` so each server starts from the same state."""
    run_dir = CACHE_DIR / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    target = run_dir / f"{name}.db"
    remove_sqlite(target)
    shutil.copyfile(prefill.path, target)
    # Write the copy back now, not while the server's commits wait on the same disk.
    fd = os.open(target, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return target


def remove_sqlite(path: Path) -> None:
    """Delete a SQLite file with its WAL and shared-memory files."""
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def sqlite_stored(path: Path, prefill: Prefill) -> tuple[int, int]:
    """New event rows since the prefill, and the all-apps rollup total (should be prefill + new)."""
    conn = sqlite3.connect(path)
    try:
        new_rows = conn.execute(
            "SELECT count(*) FROM events WHERE id > ?", (prefill.max_event_id,)
        ).fetchone()[0]
        rolled = conn.execute(ROLLED_ALL_APPS_SQL).fetchone()[0]
    finally:
        conn.close()
    return int(new_rows), int(rolled)


# --- PostgreSQL -------------------------------------------------------------------------------


def pg_conninfo(url_base: str, dbname: str) -> str:
    """A libpq URL for `dbname` from a SQLAlchemy base URL such as `postgresql+psycopg://h:p/`."""
    scheme, _, rest = url_base.partition("://")
    return f"postgresql://{rest.split('/', 1)[0]}/{dbname}" if scheme else url_base


def pg_sqlalchemy_url(url_base: str, dbname: str) -> str:
    """The SQLAlchemy URL heron takes for `dbname`."""
    scheme, _, rest = url_base.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}/{dbname}"


def _admin(url_base: str) -> Any:
    """An autocommit connection to the `postgres` maintenance database."""
    import psycopg

    return psycopg.connect(pg_conninfo(url_base, "postgres"), autocommit=True)


def pg_server_version(url_base: str) -> str:
    """The PostgreSQL server's version string."""
    with _admin(url_base) as admin:
        return str(admin.execute("SHOW server_version").fetchone()[0])


def postgres_template(prefill: Prefill, url_base: str, log: Log) -> str:
    """Return a template database holding the same prefill (built once per SQLite cache file)."""
    from psycopg import sql

    # One template per size (named by size and prefill file), so several sizes coexist.
    sized = f"{_TEMPLATE_PREFIX}{prefill.events}_"
    name = sized + hashlib.sha256(prefill.path.name.encode()).hexdigest()[:12]
    with _admin(url_base) as admin:
        rows = admin.execute(
            "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database"
            " WHERE datname LIKE %s",
            (_TEMPLATE_PREFIX + "%",),
        ).fetchall()
        ready = any(d == name and c == _TEMPLATE_DONE for d, c in rows)
        for datname, comment in rows:
            if datname == name and comment == _TEMPLATE_DONE:
                continue
            legacy = len(datname) == len(_TEMPLATE_PREFIX) + 12  # unsized names (older harness)
            if datname != name and not datname.startswith(sized) and not legacy:
                continue  # another size's template
            log(f"dropping {'incomplete' if datname == name else 'stale'} template {datname}")
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(datname))
            )
        if ready:
            return name
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    log(f"building PostgreSQL template {name} from {prefill.path.name}")
    started = time.perf_counter()
    create_schema(pg_sqlalchemy_url(url_base, name))
    _copy_into_postgres(prefill.path, pg_conninfo(url_base, name), log)
    with _admin(url_base) as admin:
        admin.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(name), sql.Literal(_TEMPLATE_DONE)
            )
        )
    log(f"PostgreSQL template built in {time.perf_counter() - started:.0f} s")
    return name


def _copy_into_postgres(source: Path, conninfo: str, log: Log) -> None:
    """COPY the prefilled tables from SQLite, advance the id sequences, then VACUUM ANALYZE."""
    import psycopg
    from psycopg import sql

    lite = sqlite3.connect(source)
    try:
        with psycopg.connect(conninfo) as pg:
            for table in _COPIED_TABLES:
                step = time.perf_counter()
                lite_cols = [r[1] for r in lite.execute(f"PRAGMA table_info({table})")]
                pg_cols = {
                    r[0]
                    for r in pg.execute(
                        "SELECT column_name FROM information_schema.columns"
                        " WHERE table_schema = current_schema() AND table_name = %s",
                        (table,),
                    )
                }
                cols = [c for c in lite_cols if c in pg_cols]
                column_list = sql.SQL(", ").join(map(sql.Identifier, cols))
                copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(
                    sql.Identifier(table), column_list
                )
                select = f"SELECT {', '.join(cols)} FROM {table}"
                # tables the migrations seed (user_history_state) take the prefill's rows
                pg.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
                with pg.cursor() as cur, cur.copy(copy_sql) as copy:
                    reader = lite.execute(select)
                    while batch := reader.fetchmany(10_000):
                        for row in batch:
                            copy.write_row(row)
                if "id" in cols:
                    pg.execute(
                        "SELECT setval(seq, (SELECT coalesce(max(id), 1) FROM "
                        + table
                        + ")) FROM pg_get_serial_sequence(%s, 'id') AS seq WHERE seq IS NOT NULL",
                        (table,),
                    )
                pg.commit()
                log(f"  COPY {table}: {time.perf_counter() - step:.1f} s")
        with psycopg.connect(conninfo, autocommit=True) as pg:
            step = time.perf_counter()
            pg.execute("VACUUM (ANALYZE)")
            log(f"  VACUUM ANALYZE: {time.perf_counter() - step:.1f} s")
    finally:
        lite.close()


def fresh_postgres_copy(url_base: str, template: str, name: str) -> str:
    """(Re)create database `name` from the template; return heron's SQLAlchemy URL for it."""
    from psycopg import sql

    with _admin(url_base) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    return pg_sqlalchemy_url(url_base, name)


def drop_postgres(url_base: str, name: str) -> None:
    """Drop a run database."""
    from psycopg import sql

    with _admin(url_base) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def postgres_stored(url_base: str, name: str, prefill: Prefill) -> tuple[int, int]:
    """New event rows since the prefill, and the all-apps rollup total, in a run database."""
    import psycopg

    with psycopg.connect(pg_conninfo(url_base, name)) as pg:
        new_rows = pg.execute(
            "SELECT count(*) FROM events WHERE id > %s", (prefill.max_event_id,)
        ).fetchone()
        rolled = pg.execute(ROLLED_ALL_APPS_SQL).fetchone()
    assert new_rows is not None and rolled is not None
    return int(new_rows[0]), int(rolled[0])
