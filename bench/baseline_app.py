"""The bare baseline heron is measured against: raw ASGI, orjson, one transaction per request."""

# Serve with `uvicorn baseline_app:app --app-dir bench`, configured by environment variables:
# BENCH_BASELINE_DATABASE (`sqlite:////abs/path.db` or a `postgresql://` libpq URL),
# BENCH_BASELINE_SYNCHRONOUS (SQLite `synchronous`, default FULL) and BENCH_BASELINE_API_KEY.
# It mirrors heron's SQLite connection settings (heron.store.engine.make_engine).

from __future__ import annotations

import os
import sqlite3
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

WORKSPACE_ID = 1
ALL_APPS = 0

_INSERT_EVENT = (
    "INSERT INTO events (workspace_id, user_id, event_id, app_id, time_ms, properties)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_UPSERT_ROLLUP = (
    "INSERT INTO event_rollups_hourly (workspace_id, event_id, app_id, hour, count)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (workspace_id, event_id, app_id, hour)"
    " DO UPDATE SET count = event_rollups_hourly.count + excluded.count"
)
_INSERT_USER = (
    "INSERT INTO users (workspace_id, braze_id, external_id, created_at_ms, updated_at_ms,"
    " standard, custom) VALUES (?, ?, ?, ?, ?, '{}', '{}') RETURNING id"
)
_INSERT_NAME = (
    "INSERT INTO custom_events (workspace_id, name, created_at_ms) VALUES (?, ?, ?) RETURNING id"
)
_JSON_HEADERS = [(b"content-type", b"application/json")]


class BadRequest(Exception):
    """The body is not a `/users/track` payload this baseline understands."""


def _time_ms(value: Any) -> int:
    """Epoch milliseconds from an ISO 8601 `time` (naive means UTC)."""
    if not isinstance(value, str):
        raise BadRequest("time must be an ISO 8601 string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise BadRequest(f"bad time {value!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


class Store:
    """One database connection plus the id caches (external_id, event name, app api id)."""

    def __init__(self, url: str, synchronous: str) -> None:
        """Connect with heron's default settings and load the id caches."""
        self.postgres = url.startswith(("postgresql://", "postgres://"))
        self.conn: Any
        if self.postgres:
            import psycopg

            self.conn = psycopg.connect(url)
            self.param = "%s"
        else:
            path = url.removeprefix("sqlite:///")
            self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            for pragma in (
                "journal_mode=WAL",
                f"synchronous={synchronous}",
                "busy_timeout=30000",
                "cache_size=-65536",
                "temp_store=MEMORY",
            ):
                self.conn.execute(f"PRAGMA {pragma}")
            self.param = "?"
        self.insert_event = self._sql(_INSERT_EVENT)
        self.upsert_rollup = self._sql(_UPSERT_ROLLUP)
        self.insert_user = self._sql(_INSERT_USER)
        self.insert_name = self._sql(_INSERT_NAME)
        self.users = self._map("SELECT external_id, id FROM users WHERE workspace_id = 1")
        self.names = self._map("SELECT name, id FROM custom_events WHERE workspace_id = 1")
        self.apps = self._map("SELECT api_id, id FROM apps WHERE workspace_id = 1")
        if self.postgres:
            self.conn.commit()

    def _sql(self, text: str) -> str:
        """Adapt a qmark statement to the driver's parameter style."""
        return text.replace("?", self.param)

    def _map(self, query: str) -> dict[str, int]:
        """Load a two-column query into a dict."""
        return {str(key): int(value) for key, value in self.conn.execute(query).fetchall()}

    def track(self, payload: Any) -> int:
        """Store a batch of events and its rollup increments in one transaction; return its size."""
        if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
            raise BadRequest("expected an object with an events array")
        events: list[Any] = payload["events"]
        now_ms = round(datetime.now(tz=UTC).timestamp() * 1000)
        new_users: dict[str, int] = {}
        new_names: dict[str, int] = {}
        if self.postgres:
            with self.conn.transaction():
                count = self._write(events, now_ms, new_users, new_names)
        else:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                count = self._write(events, now_ms, new_users, new_names)
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
        self.users.update(new_users)
        self.names.update(new_names)
        return count

    def _write(
        self, events: list[Any], now_ms: int, new_users: dict[str, int], new_names: dict[str, int]
    ) -> int:
        """Resolve ids (creating unknown users and names), then insert rows and upsert rollups."""
        rows: list[tuple[int, int, int, int | None, int, str | None]] = []
        rollup: dict[tuple[int, int, int], int] = {}
        for event in events:
            if not isinstance(event, dict):
                raise BadRequest("each event must be an object")
            external_id = event.get("external_id")
            name = event.get("name")
            if not isinstance(external_id, str) or not isinstance(name, str):
                raise BadRequest("each event needs an external_id and a name")
            user_id = self.users.get(external_id) or new_users.get(external_id)
            if user_id is None:
                user_id = self._create(
                    self.insert_user,
                    (WORKSPACE_ID, os.urandom(12).hex(), external_id, now_ms, now_ms),
                )
                new_users[external_id] = user_id
            event_id = self.names.get(name) or new_names.get(name)
            if event_id is None:
                event_id = self._create(self.insert_name, (WORKSPACE_ID, name, now_ms))
                new_names[name] = event_id
            app_id = self.apps.get(event.get("app_id", ""))
            time_ms = _time_ms(event.get("time"))
            properties = event.get("properties")
            text = orjson.dumps(properties).decode() if properties else None
            rows.append((WORKSPACE_ID, user_id, event_id, app_id, time_ms, text))
            hour = time_ms // 3_600_000 * 3600
            key = (event_id, ALL_APPS, hour)
            rollup[key] = rollup.get(key, 0) + 1
            if app_id is not None:
                key = (event_id, app_id, hour)
                rollup[key] = rollup.get(key, 0) + 1
        cursor = self.conn.cursor()
        cursor.executemany(self.insert_event, rows)
        cursor.executemany(
            self.upsert_rollup,
            [(WORKSPACE_ID, e, a, h, c) for (e, a, h), c in rollup.items()],
        )
        return len(rows)

    def _create(self, statement: str, params: tuple[Any, ...]) -> int:
        """Insert one row and return its id."""
        row = self.conn.execute(statement, params).fetchone()
        return int(row[0])


_store: Store | None = None


_AUTHORIZATION = f"Bearer {os.environ.get('BENCH_BASELINE_API_KEY', '')}".encode()


def _settings() -> tuple[str, str]:
    """Database URL and SQLite synchronous level, from the environment."""
    url = os.environ.get("BENCH_BASELINE_DATABASE", "")
    if not url:
        raise RuntimeError("set BENCH_BASELINE_DATABASE")
    return url, os.environ.get("BENCH_BASELINE_SYNCHRONOUS", "FULL").upper()


async def _respond(send: Send, status: int, body: Any) -> None:
    """Send a complete JSON response."""
    data = orjson.dumps(body)
    headers = [*_JSON_HEADERS, (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def _read_body(receive: Receive) -> bytes:
    """Read the whole request body."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _http(scope: Scope, receive: Receive, send: Send) -> None:
    """Serve `GET /healthz` and `POST /users/track`."""
    path = scope["path"]
    if path == "/healthz":
        await _respond(send, 200 if _store is not None else 503, {"status": "ok"})
        return
    if path != "/users/track" or scope["method"] != "POST":
        await _respond(send, 404, {"message": "not found"})
        return
    authorization = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
    if authorization != _AUTHORIZATION:
        await _respond(send, 401, {"message": "Invalid API key"})
        return
    body = await _read_body(receive)
    assert _store is not None
    try:
        count = _store.track(orjson.loads(body))
    except (BadRequest, orjson.JSONDecodeError) as exc:
        await _respond(send, 400, {"message": str(exc)})
        return
    await _respond(send, 201, {"message": "success", "events_processed": count})


async def _lifespan(receive: Receive, send: Send) -> None:
    """Open the store at startup (loading the id caches) and close it at shutdown."""
    global _store
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                url, synchronous = _settings()
                _store = Store(url, synchronous)
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if _store is not None:
                _store.conn.close()
                _store = None
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI entry point."""
    if scope["type"] == "http":
        await _http(scope, receive, send)
    elif scope["type"] == "lifespan":
        await _lifespan(receive, send)
