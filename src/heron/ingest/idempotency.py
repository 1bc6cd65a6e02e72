"""`Idempotency-Key` for `/users/track` (a heron extension): a retried request is stored once.

A client that may resend a request (after a timeout, a crash, or an interrupted import) sends
the same key each time. The first request's answer is stored with the key in the same
transaction as its data; a repeat within KEEP_MS gets that stored answer and writes nothing.
The same key with a different body is refused. Braze ignores the header, so clients may send
it to both. Requests that store nothing (every object invalid) record no key: repeating them
gives the same answer anyway.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from heron.http.errors import bad_request

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 255
KEEP_MS = 24 * 3600 * 1000  # keys are remembered for a day
LOCK_CLASS = 0x6869  # pg_advisory_xact_lock(int, int) class of idempotency keys ("hi")
_LOOKUP_CHUNK = 500  # keys per lookup statement (under SQLite's oldest 999-variable limit)
REUSED_MESSAGE = "Idempotency-Key was already used with a different request body"


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """A request's key and the digest of the body it was sent with."""

    key: str
    digest: str


def key_from_header(value: str | None, body: bytes) -> IdempotencyKey | None:
    """The request's key (None without the header); a malformed key is a 400."""
    if value is None:
        return None
    if not 1 <= len(value) <= MAX_KEY_LENGTH or not all(" " < ch <= "~" for ch in value):
        raise bad_request(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters "
            "without spaces"
        )
    return IdempotencyKey(value, hashlib.sha256(body).hexdigest())


class IdempotencyLedger:
    """Looks up and records keys inside a track group's transaction (raw DB-API cursor)."""

    def __init__(self, postgres: bool) -> None:
        self._mark = "%s" if postgres else "?"
        self._staged: dict[tuple[int, str], tuple[str, bytes]] = {}
        self._stored: dict[tuple[int, str], tuple[str, bytes]] = {}

    def begin(self, cur: Any, keys: list[tuple[int, str]]) -> None:
        """Start a group: forget the last one's keys, look up this group's in one query each
        workspace; on PostgreSQL lock them first.

        Locking each (workspace, key) for the transaction, in sorted order (no deadlocks),
        makes a concurrent request with the same key in another process wait for this one to
        commit, after which the lookup finds the stored answer.
        """
        self._staged = {}
        self._stored = {}
        m = self._mark
        if m == "%s":
            for ws, key in sorted(set(keys)):
                cur.execute(
                    "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LOCK_CLASS, f"{ws}:{key}")
                )
        by_workspace: dict[int, list[str]] = {}
        for ws, key in keys:
            by_workspace.setdefault(ws, []).append(key)
        for ws, names in by_workspace.items():
            for start in range(0, len(names), _LOOKUP_CHUNK):
                chunk = names[start : start + _LOOKUP_CHUNK]
                marks = ", ".join([m] * len(chunk))
                cur.execute(
                    "SELECT idempotency_key, digest, response FROM track_idempotency "
                    f"WHERE workspace_id = {m} AND idempotency_key IN ({marks})",
                    (ws, *chunk),
                )
                for key, digest, response in cur.fetchall():
                    self._stored[(ws, str(key))] = (str(digest), bytes(response))

    def find(self, workspace_id: int, key: IdempotencyKey) -> tuple[str, bytes] | None:
        """(digest, stored answer) of a key already used, in this group or committed (as
        looked up by `begin`)."""
        found = self._staged.get((workspace_id, key.key))
        return found if found is not None else self._stored.get((workspace_id, key.key))

    def stage(self, workspace_id: int, key: IdempotencyKey, response: bytes) -> None:
        """Remember a key's answer for this group (written by `write`)."""
        self._staged[(workspace_id, key.key)] = (key.digest, response)

    def write(self, cur: Any, now_ms: int) -> None:
        """Insert the group's keys (a concurrent duplicate fails the group, which then retries)."""
        if not self._staged:
            return
        m = self._mark
        cur.executemany(
            "INSERT INTO track_idempotency (workspace_id, idempotency_key, digest, response, "
            f"created_at_ms) VALUES ({m}, {m}, {m}, {m}, {m})",
            [
                (ws, key, digest, response, now_ms)
                for (ws, key), (digest, response) in sorted(self._staged.items())
            ],
        )
        self._staged = {}


def forget_expired_sql() -> str:
    """The statement (one named parameter, `before`) that drops keys older than KEEP_MS."""
    return "DELETE FROM track_idempotency WHERE created_at_ms < :before"
