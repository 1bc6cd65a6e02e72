"""A scripted Braze-like HTTP server on a real socket, for the client's failure paths.

Each request takes the next scripted `Action` for its path (when there is one) and records
what it saw. Without a script, `/users/track` behaves like a server that honours
`Idempotency-Key`: it stores the objects of a new key and answers a repeated key with the
stored answer without storing again (what the lead adds to heron), so resumption can be
checked exactly.

`hold_after=N` holds every `/users/track` request after the first N until `released` is set.

Actions: `Reply(status, body, headers)` answers (a `bytes` body goes out as is, so malformed
JSON is possible), `Sleep(seconds, then)` delays (for timeouts), `Drop()` closes the connection
without an answer, `StoreThenDrop()` stores a `/users/track` body and then drops the
connection (the crash after commit, before the answer).
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Reply:
    """Answer with this status, body (JSON-encoded unless bytes) and headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Sleep:
    """Wait, then do `then` (default: behave normally)."""

    seconds: float
    then: Any = None


@dataclass
class Drop:
    """Close the connection without answering."""


@dataclass
class StoreThenDrop:
    """Store the `/users/track` body, then close the connection without answering."""


@dataclass
class Seen:
    """One request as the server saw it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    at: float


class FakeBraze:
    """The server; use as a context manager. `base_url`, `script(path, *actions)`, `seen`."""

    def __init__(self, delay: float = 0.0, hold_after: int | None = None) -> None:
        self.delay = delay
        # `/users/track` requests past the first `hold_after` wait until `released` is set
        # (at most a minute): an import is then surely in the middle when a test stops it
        self.hold_after = hold_after
        self.released = threading.Event()
        self.tracked = 0
        self.scripts: dict[str, deque[Any]] = defaultdict(deque)
        self.seen: list[Seen] = []
        self.stored: list[dict[str, Any]] = []  # every stored object, with its array
        self.answers: dict[str, bytes] = {}  # Idempotency-Key -> stored answer
        self.replays = 0
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Keep the test output quiet."""

            def do_GET(self) -> None:
                """Serve a GET."""
                fake.handle(self)

            def do_POST(self) -> None:
                """Serve a POST."""
                fake.handle(self)

            def do_PUT(self) -> None:
                """Serve a PUT."""
                fake.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT`."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeBraze:
        """Start serving."""
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop serving."""
        self.released.set()
        self.server.shutdown()
        self.server.server_close()

    def script(self, path: str, *actions: Any) -> None:
        """Queue actions for the next requests to `path`."""
        self.scripts[path].extend(actions)

    def requests_to(self, path: str) -> list[Seen]:
        """The requests seen for a path."""
        return [seen for seen in self.seen if seen.path == path]

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        """Record the request and play its action."""
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        parts = urlsplit(handler.path)
        seen = Seen(
            handler.command,
            parts.path,
            parts.query,
            {k.lower(): v for k, v in handler.headers.items()},
            body,
            time.time(),
        )
        with self.lock:
            self.seen.append(seen)
            script = self.scripts.get(parts.path)
            action = script.popleft() if script else None
            if parts.path == "/users/track":
                self.tracked += 1
            held = self.hold_after is not None and self.tracked > self.hold_after
        if held:
            self.released.wait(60)
        if self.delay:
            time.sleep(self.delay)
        self.play(handler, seen, action)

    def play(self, handler: BaseHTTPRequestHandler, seen: Seen, action: Any) -> None:
        """Carry out one action (None: the default behaviour)."""
        if isinstance(action, Sleep):
            time.sleep(action.seconds)
            action = action.then
        if isinstance(action, Drop):
            handler.close_connection = True
            return
        if isinstance(action, StoreThenDrop):
            self.track(seen)
            handler.close_connection = True
            return
        if isinstance(action, Reply):
            self.reply(handler, action.status, action.body, action.headers)
            return
        if seen.path == "/users/track":
            status, answer = self.track(seen)
            self.reply(handler, status, answer, {})
            return
        self.reply(handler, 404, {"message": "Invalid URL"}, {})

    def track(self, seen: Seen) -> tuple[int, bytes]:
        """Store a `/users/track` body once per Idempotency-Key; answer like heron."""
        key = seen.headers.get("idempotency-key")
        with self.lock:
            if key is not None and key in self.answers:
                self.replays += 1
                return 201, self.answers[key]
            payload = json.loads(seen.body)
            answer: dict[str, Any] = {"message": "success"}
            errors = []
            for array in ("attributes", "events", "purchases"):
                if array not in payload:
                    continue
                processed = 0
                for index, obj in enumerate(payload[array]):
                    if obj.get("reject"):
                        errors.append({"type": "rejected", "input_array": array, "index": index})
                        continue
                    self.stored.append({"array": array, **obj})
                    processed += 1
                answer[f"{array}_processed"] = processed
            if errors:
                answer["errors"] = errors
            encoded = json.dumps(answer).encode()
            if key is not None:
                self.answers[key] = encoded
            return 201, encoded

    @staticmethod
    def reply(
        handler: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str]
    ) -> None:
        """Write a response."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)
