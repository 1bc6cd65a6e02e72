"""Applying `/users/track` batches to the database: users, raw rows, catalog and rollups.

Runs on the writer thread inside the group's transaction. Hot-path SQL goes straight to the
DBAPI cursor (multi-row VALUES on SQLite, see heron.store.bulk; COPY on PostgreSQL); lookups
that every request repeats (user ids, catalog ids) are cached in memory. Cache entries learned
inside a transaction are staged and only published after it commits, so a rolled-back group
leaves no stale ids behind.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from sqlalchemy.engine import Connection

from heron.analytics.buckets import hour_bucket, zone
from heron.analytics.kpi import KpiRecorder
from heron.ingest.batch import TrackBatch, TrackOutcome
from heron.ingest.idempotency import IdempotencyLedger
from heron.ingest.records import AttributeRecord, ObjectError, UserRef
from heron.segments.changes import note_changed_users
from heron.store.bulk import insert_rows
from heron.store.driver import raw_cursor
from heron.store.schema import ALL_APPS, ALL_PRODUCTS
from heron.users.generation import IdentityWatch
from heron.users.history_index import APPEND_LOCK_KEY
from heron.users.profile import apply_attributes

USER_NOT_FOUND = "no user matches the identifier and '_update_existing_only' is true"
# Catalog `last_seen` is refreshed when it moves by more than this (keeps writes per group low).
SEEN_RESOLUTION_MS = 60_000
_CACHE_LIMIT = 2_000_000

_json_encode = msgspec.json.encode
_json_decode = msgspec.json.decode


# An upsert's SET clause that only ever widens a catalog entry's first/last-seen range.
_WIDEN = (
    "first_seen_ms = CASE WHEN {t}.first_seen_ms IS NULL OR excluded.first_seen_ms < "
    "{t}.first_seen_ms THEN excluded.first_seen_ms ELSE {t}.first_seen_ms END, "
    "last_seen_ms = CASE WHEN {t}.last_seen_ms IS NULL OR excluded.last_seen_ms > "
    "{t}.last_seen_ms THEN excluded.last_seen_ms ELSE {t}.last_seen_ms END"
)


def _widen(spans: dict[int, list[int]], key: int, time_ms: int) -> None:
    """Widen the [first, last] span recorded for `key`."""
    span = spans.get(key)
    if span is None:
        spans[key] = [time_ms, time_ms]
    elif time_ms < span[0]:
        span[0] = time_ms
    elif time_ms > span[1]:
        span[1] = time_ms


def new_braze_id() -> str:
    """A new profile's `braze_id`: 24 hex characters, like Braze's."""
    return secrets.token_hex(12)


def email_key(email: str) -> str:
    """The form emails are matched in: SHA-256 of the lower-cased address (fixed size)."""
    return hashlib.sha256(email.lower().encode("utf-8")).hexdigest()


def phone_key(phone: str) -> str:
    """The form phone numbers are matched in: digits, with a leading `+` kept."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    return ("+" + digits) if phone.strip().startswith("+") else digits


@dataclass(slots=True)
class _Profile:
    """A user's attribute documents loaded for update within one group."""

    standard: dict[str, Any]
    custom: dict[str, Any]
    dirty: bool = False


@dataclass(slots=True)
class _Group:
    """Per-transaction state: staged cache entries and accumulated writes."""

    now_ms: int
    users: dict[tuple[Any, ...], int] = field(default_factory=dict)
    external_ids: dict[int, dict[str, int]] = field(default_factory=dict)  # ws -> ext -> id
    names: dict[tuple[str, int, str], int] = field(default_factory=dict)
    # catalog id -> [first_ms, last_ms] seen in this group, and property name -> data type
    event_seen: dict[int, list[int]] = field(default_factory=dict)
    event_props: dict[int, dict[str, str]] = field(default_factory=dict)
    product_seen: dict[int, list[int]] = field(default_factory=dict)
    purchase_props: dict[int, dict[str, str]] = field(default_factory=dict)  # per workspace
    purchase_seen: dict[int, list[int]] = field(default_factory=dict)  # per workspace
    profiles: dict[int, _Profile] = field(default_factory=dict)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    purchases: list[tuple[Any, ...]] = field(default_factory=list)
    event_rollups: dict[tuple[int, int, int, int], int] = field(default_factory=dict)
    purchase_rollups: dict[tuple[int, int, int, int], list[float]] = field(default_factory=dict)
    # custom attributes: ("custom_attributes", workspace_id, name) -> [first, last, data_type]
    seen: dict[tuple[Any, ...], list[Any]] = field(default_factory=dict)
    # what _write_seen wrote, published to the store's memory after commit
    written_seen: dict[tuple[Any, ...], tuple[int, int]] = field(default_factory=dict)
    written_props: dict[tuple[str, int], dict[str, str]] = field(default_factory=dict)
    # for heron.analytics.kpi: profiles created (id -> (ws, created_ms)), zone per workspace
    created_users: dict[int, tuple[int, int]] = field(default_factory=dict)
    time_zones: dict[int, str] = field(default_factory=dict)


class TrackStore:
    """Stores track batches; one instance per writer thread (it is not thread-safe)."""

    def __init__(self, dialect: str, *, max_array_length: int = 25) -> None:
        self._postgres = dialect == "postgresql"
        self._max_array_length = max_array_length
        # (kind, workspace_id, value[, label]) -> users.id, and per workspace external_id -> id
        self._users: dict[tuple[Any, ...], int] = {}
        self._external_ids: dict[int, dict[str, int]] = {}
        # (table, workspace_id, name) -> catalog id
        self._names: dict[tuple[str, int, str], int] = {}
        # (table, key...) -> (first_ms, last_ms) as last written
        self._seen: dict[tuple[Any, ...], tuple[int, int]] = {}
        # ("event_properties", event_id) / ("purchase_properties", ws) -> known property types
        self._props: dict[tuple[str, int], dict[str, str]] = {}
        self._group: _Group | None = None
        self._prop_rows: dict[str, list[tuple[Any, ...]]] = {}
        self._kpi = KpiRecorder(self._postgres)
        self._ledger = IdempotencyLedger(self._postgres)
        # merges, identifies, deletes (any process) re-point identifiers: heron.users.generation
        self._identities = IdentityWatch(self._postgres)

    # -- transaction bookkeeping -------------------------------------------------------------

    def commit_pending(self) -> None:
        """Publish what the committed group learned into the caches."""
        group, self._group = self._group, None
        self._kpi.commit()
        if group is None:
            return
        if len(self._users) + sum(map(len, self._external_ids.values())) > _CACHE_LIMIT:
            self.forget_users()
        self._users.update(group.users)
        for ws, ids in group.external_ids.items():
            self._external_ids.setdefault(ws, {}).update(ids)
        self._names.update(group.names)
        self._seen.update(group.written_seen)
        for key, types in group.written_props.items():
            self._props.setdefault(key, {}).update(types)

    def discard_pending(self) -> None:
        """Forget what a rolled-back group learned."""
        self._group = None
        self._prop_rows = {}
        self._kpi.discard()

    def forget_users(self) -> None:
        """Drop cached user ids (after deletes or merges change who exists)."""
        self._users.clear()
        self._external_ids.clear()

    def kpi_fold_due(self) -> bool:
        """Whether this writer should take a step of folding deferred KPI pairs now (SQLite)."""
        return self._kpi.fold_due()

    def fold_kpis(self, conn: Connection) -> int:
        """One step of folding deferred KPI pairs (heron.analytics.kpi) in this transaction."""
        cur = raw_cursor(conn)
        try:
            return self._kpi.fold(cur)
        finally:
            cur.close()

    def kpis_folded(self) -> None:
        """The fold step's transaction committed."""
        self._kpi.folded()

    # -- SQL helpers ------------------------------------------------------------------------

    def _sql(self, statement: str) -> str:
        """Translate qmark placeholders for psycopg."""
        return statement.replace("?", "%s") if self._postgres else statement

    def _one(self, cur: Any, statement: str, params: Sequence[Any]) -> Any:
        """Run a statement and return its first row (or None)."""
        cur.execute(self._sql(statement), params)
        return cur.fetchone()

    # -- entry point ------------------------------------------------------------------------

    def apply(self, conn: Connection, batches: Sequence[TrackBatch]) -> list[TrackOutcome]:
        """Store every batch of a group in the current transaction; return their outcomes."""
        group = self._group = _Group(now_ms=max(b.now_ms for b in batches))
        cur = raw_cursor(conn)
        try:
            if self._postgres:  # raw-row appends vs. the history indexer's upper bound
                cur.execute("SELECT pg_advisory_xact_lock_shared(%s)", (APPEND_LOCK_KEY,))
            if self._identities.changed(cur, {batch.workspace_id for batch in batches}):
                self.forget_users()
            self._current_time_zones(cur, batches)
            self._prefetch_external_ids(cur, batches)
            self._ledger.begin(
                cur,
                [(b.workspace_id, b.idempotency.key) for b in batches if b.idempotency is not None],
            )
            outcomes = [self._apply_keyed(cur, batch) for batch in batches]
            self._flush_profiles(cur)
            self._write_events(cur, group.events)
            self._write_purchases(cur, group.purchases)
            note_changed_users(cur, self._postgres, group.profiles.keys() | group.created_users)
            self._write_rollups(cur)
            self._kpi.record(cur, group)
            self._write_seen(cur)
            self._ledger.write(cur, group.now_ms)
        finally:
            cur.close()
        return outcomes

    def _current_time_zones(self, cur: Any, batches: Sequence[TrackBatch]) -> None:
        """Bucket by each workspace's zone as committed now, not as cached at authentication.

        A zone change rebuilds the workspace's rollups in one transaction; reading the zone
        inside the group's transaction (row-locked on PostgreSQL, where the change holds the row
        until it commits) keeps a request authenticated before the change from writing buckets
        of the old zone after the rebuild.
        """
        ids = sorted({batch.workspace_id for batch in batches})
        lock = " FOR SHARE" if self._postgres else ""
        cur.execute(
            self._sql(
                f"SELECT id, time_zone FROM workspaces WHERE id IN ({','.join('?' * len(ids))})"
                f"{lock}"
            ),
            ids,
        )
        zones = dict(cur.fetchall())
        for batch in batches:
            batch.time_zone = zones.get(batch.workspace_id, batch.time_zone)

    def _apply_keyed(self, cur: Any, batch: TrackBatch) -> TrackOutcome:
        """Apply a batch, or answer a repeated Idempotency-Key from the ledger without writing."""
        key = batch.idempotency
        if key is None or batch.render is None:
            return self._apply_batch(cur, batch)
        found = self._ledger.find(batch.workspace_id, key)
        if found is not None:
            digest, response = found
            if digest != key.digest:
                return TrackOutcome(key_reused=True)
            return TrackOutcome(replayed=response)
        outcome = self._apply_batch(cur, batch)
        self._ledger.stage(batch.workspace_id, key, batch.render(outcome))
        return outcome

    def _apply_batch(self, cur: Any, batch: TrackBatch) -> TrackOutcome:
        """Resolve users and queue rows for one request, in Braze's order."""
        group = self._group
        assert group is not None
        outcome = TrackOutcome()
        ws = batch.workspace_id
        tz = zone(batch.time_zone)
        group.time_zones[ws] = batch.time_zone
        for index, record in batch.attributes:
            uid = self._resolve(cur, ws, record.user, record.update_existing_only)
            if uid is None:
                outcome.refused.append(ObjectError(USER_NOT_FOUND, "attributes", index))
                continue
            self._apply_attributes(cur, uid, record, batch.now_ms)
            for op in record.custom:
                if op.kind == "unset":
                    continue
                data_type = op.data_type or ("Number" if op.kind == "inc" else "Array")
                self._see(("custom_attributes", ws, op.name), batch.now_ms, data_type)
        self._queue_events(cur, batch, tz, outcome)
        self._queue_purchases(cur, batch, tz, outcome)
        return outcome

    def _queue_events(self, cur: Any, batch: TrackBatch, tz: Any, outcome: TrackOutcome) -> None:
        """Resolve and queue a batch's events: raw rows, rollup counts, catalog sightings.

        This loop runs for every event heron ingests, so it is written for speed: lookups are
        bound to locals and per-property bookkeeping is one C-level `dict.update` per event.
        """
        group = self._group
        assert group is not None
        ws = batch.workspace_id
        known_ids = self._external_ids.get(ws) or {}
        staged_ids = group.external_ids.setdefault(ws, {})
        names = self._names
        rows = group.events
        rollups = group.event_rollups
        seen = group.event_seen
        props = group.event_props
        for index, event in batch.events:
            ref = event.user
            uid = None
            if ref.kind == "external_id":
                uid = known_ids.get(ref.value) or staged_ids.get(ref.value)
            if uid is None:
                uid = self._resolve(cur, ws, ref, event.update_existing_only)
                if uid is None:
                    outcome.refused.append(ObjectError(USER_NOT_FOUND, "events", index))
                    continue
            time_ms = event.time_ms
            event_id = names.get(("custom_events", ws, event.name))
            if event_id is None:
                event_id = self._catalog_id(cur, "custom_events", ws, event.name, time_ms)
            rows.append((ws, uid, event_id, event.app, time_ms, event.properties))
            if tz is None:
                second = time_ms // 1000
                hour = second - second % 3600
            else:
                hour = hour_bucket(time_ms, tz)
            key = (ws, event_id, ALL_APPS, hour)
            rollups[key] = rollups.get(key, 0) + 1
            if event.app is not None:
                key = (ws, event_id, event.app, hour)
                rollups[key] = rollups.get(key, 0) + 1
            span = seen.get(event_id)
            if span is None:
                seen[event_id] = [time_ms, time_ms]
            elif time_ms < span[0]:
                span[0] = time_ms
            elif time_ms > span[1]:
                span[1] = time_ms
            if event.property_types:
                types = props.get(event_id)
                if types is None:
                    props[event_id] = dict(event.property_types)
                else:
                    types.update(event.property_types)

    def _queue_purchases(self, cur: Any, batch: TrackBatch, tz: Any, outcome: TrackOutcome) -> None:
        """Resolve and queue a batch's purchases: raw rows, rollups, catalog sightings."""
        group = self._group
        assert group is not None
        ws = batch.workspace_id
        for index, purchase in batch.purchases:
            uid = self._resolve(cur, ws, purchase.user, purchase.update_existing_only)
            if uid is None:
                outcome.refused.append(ObjectError(USER_NOT_FOUND, "purchases", index))
                continue
            time_ms = purchase.time_ms
            product = self._catalog_id(cur, "products", ws, purchase.product_id, time_ms)
            group.purchases.append(
                (
                    ws,
                    uid,
                    product,
                    purchase.app,
                    purchase.currency,
                    purchase.price,
                    purchase.quantity,
                    time_ms,
                    purchase.properties,
                )
            )
            hour = hour_bucket(time_ms, tz)
            revenue = purchase.price * purchase.quantity
            apps = (ALL_APPS,) if purchase.app is None else (ALL_APPS, purchase.app)
            for product_key in (ALL_PRODUCTS, product):
                for app_key in apps:
                    totals = group.purchase_rollups.setdefault(
                        (ws, product_key, app_key, hour), [0, 0, 0.0]
                    )
                    totals[0] += 1
                    totals[1] += purchase.quantity
                    totals[2] += revenue
            _widen(group.product_seen, product, time_ms)
            if purchase.property_types:
                _widen(group.purchase_seen, ws, time_ms)
                group.purchase_props.setdefault(ws, {}).update(purchase.property_types)

    # -- users ------------------------------------------------------------------------------

    def _cached_user(self, key: tuple[Any, ...]) -> int | None:
        """A user id from the committed cache or this group's staged entries."""
        group = self._group
        assert group is not None
        if key[0] == "external_id":
            ws, value = key[1], key[2]
            found = (self._external_ids.get(ws) or {}).get(value)
            return found if found is not None else group.external_ids.get(ws, {}).get(value)
        found = self._users.get(key)
        return found if found is not None else group.users.get(key)

    def _prefetch_external_ids(self, cur: Any, batches: Sequence[TrackBatch]) -> None:
        """Look up, in a few queries, every external_id of the group that is not cached."""
        group = self._group
        assert group is not None
        wanted: dict[int, set[str]] = defaultdict(set)
        for batch in batches:
            known = self._external_ids.get(batch.workspace_id) or {}
            missing = wanted[batch.workspace_id]
            for records in (batch.attributes, batch.events, batch.purchases):
                for _index, record in records:
                    ref = record.user
                    if ref.kind == "external_id" and ref.value not in known:
                        missing.add(ref.value)
        for ws, values in wanted.items():
            pending = list(values)
            for start in range(0, len(pending), 500):
                chunk = pending[start : start + 500]
                marks = ",".join("?" * len(chunk))
                cur.execute(
                    self._sql(
                        "SELECT external_id, id FROM users WHERE workspace_id = ? "
                        f"AND external_id IN ({marks})"
                    ),
                    [ws, *chunk],
                )
                staged = group.external_ids.setdefault(ws, {})
                for external_id, uid in cur.fetchall():
                    staged[external_id] = uid

    def _resolve(self, cur: Any, ws: int, ref: UserRef, update_only: bool) -> int | None:
        """The user an object names, created when allowed; None when it may not be created."""
        if ref.kind == "email":
            return self._resolve_contact(cur, ws, ref, update_only)
        if ref.kind == "phone":
            return self._resolve_contact(cur, ws, ref, update_only)
        key: tuple[Any, ...]
        if ref.kind == "user_alias":
            key = ("user_alias", ws, ref.label, ref.value)
        else:
            key = (ref.kind, ws, ref.value)
        uid = self._cached_user(key)
        if uid is not None:
            return uid
        group = self._group
        assert group is not None
        if ref.kind == "external_id":
            # Prefetch already looked in the database: not there means it does not exist.
            if update_only:
                return None
            uid = self._create_external_id_user(cur, ws, ref.value, group.now_ms)
        elif ref.kind == "braze_id":
            row = self._one(
                cur, "SELECT id FROM users WHERE workspace_id = ? AND braze_id = ?", (ws, ref.value)
            )
            if row is None:
                return None
            uid = int(row[0])
        else:
            row = self._one(
                cur,
                "SELECT user_id FROM user_aliases WHERE workspace_id = ? AND alias_label = ? "
                "AND alias_name = ?",
                (ws, ref.label, ref.value),
            )
            if row is not None:
                uid = int(row[0])
            elif update_only:
                return None
            else:
                uid = self._create_alias_user(cur, ws, ref, group.now_ms)
        if ref.kind == "external_id":
            group.external_ids.setdefault(ws, {})[ref.value] = uid
        else:
            group.users[key] = uid
        return uid

    def _insert_user(
        self,
        cur: Any,
        ws: int,
        now_ms: int,
        *,
        external_id: str | None = None,
        email: str | None = None,
        phone: str | None = None,
    ) -> int | None:
        """Insert a profile; None when its external_id was taken concurrently."""
        standard: dict[str, Any] = {}
        if email is not None:
            standard["email"] = email
        if phone is not None:
            standard["phone"] = phone
        row = self._one(
            cur,
            "INSERT INTO users (workspace_id, braze_id, external_id, email, email_key, phone, "
            "created_at_ms, updated_at_ms, standard, custom) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING RETURNING id",
            (
                ws,
                new_braze_id(),
                external_id,
                email,
                email_key(email) if email is not None else None,
                phone_key(phone) if phone is not None else None,
                now_ms,
                now_ms,
                _json_encode(standard).decode(),
                "{}",
            ),
        )
        if row is not None and self._group is not None:
            self._group.created_users[int(row[0])] = (ws, now_ms)
        return None if row is None else int(row[0])

    def _create_external_id_user(self, cur: Any, ws: int, external_id: str, now_ms: int) -> int:
        """Create a profile for a new external_id (or find the one a concurrent node made)."""
        uid = self._insert_user(cur, ws, now_ms, external_id=external_id)
        if uid is None:
            row = self._one(
                cur,
                "SELECT id FROM users WHERE workspace_id = ? AND external_id = ?",
                (ws, external_id),
            )
            uid = int(row[0])
        return uid

    def _create_alias_user(self, cur: Any, ws: int, ref: UserRef, now_ms: int) -> int:
        """Create an alias-only profile (attributes with `_update_existing_only: false`)."""
        uid = self._insert_user(cur, ws, now_ms)
        assert uid is not None
        row = self._one(
            cur,
            "INSERT INTO user_aliases (workspace_id, user_id, alias_label, alias_name) "
            "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
            (ws, uid, ref.label, ref.value),
        )
        if row is None:  # another node created the same alias first: use its profile
            cur.execute(self._sql("DELETE FROM users WHERE id = ?"), (uid,))
            if self._group is not None:
                self._group.created_users.pop(uid, None)
            row = self._one(
                cur,
                "SELECT user_id FROM user_aliases WHERE workspace_id = ? AND alias_label = ? "
                "AND alias_name = ?",
                (ws, ref.label, ref.value),
            )
            uid = int(row[0])
        return uid

    def _resolve_contact(self, cur: Any, ws: int, ref: UserRef, update_only: bool) -> int | None:
        """Email/phone identifiers: Braze's matching rules, or a new email/phone-only profile.

        Several matches: the most recently updated profile that has an external_id, else the
        most recently updated one. Not cached, because which profile matches can change.
        """
        group = self._group
        assert group is not None
        self._flush_profiles(cur)  # pending email/phone changes must be visible to the match
        if ref.kind == "email":
            column, value = "email_key", email_key(ref.value)
        else:
            column, value = "phone", phone_key(ref.value)
        row = self._one(
            cur,
            f"SELECT id FROM users WHERE workspace_id = ? AND {column} = ? "
            "ORDER BY CASE WHEN external_id IS NULL THEN 1 ELSE 0 END, updated_at_ms DESC, id DESC "
            "LIMIT 1",
            (ws, value),
        )
        if row is not None:
            return int(row[0])
        if update_only:
            return None
        if ref.kind == "email":
            return self._insert_user(cur, ws, group.now_ms, email=ref.value)
        return self._insert_user(cur, ws, group.now_ms, phone=ref.value)

    # -- attributes -------------------------------------------------------------------------

    def _apply_attributes(self, cur: Any, uid: int, record: AttributeRecord, now_ms: int) -> None:
        """Apply one attributes object to the user's documents (written at the end of the group)."""
        group = self._group
        assert group is not None
        profile = group.profiles.get(uid)
        if profile is None:
            lock = " FOR UPDATE" if self._postgres else ""
            row = self._one(cur, f"SELECT standard, custom FROM users WHERE id = ?{lock}", (uid,))
            profile = _Profile(_json_decode(row[0]), _json_decode(row[1]))
            group.profiles[uid] = profile
        apply_attributes(
            profile.standard, profile.custom, record, max_array_length=self._max_array_length
        )
        profile.dirty = True

    def _flush_profiles(self, cur: Any) -> None:
        """Write every changed profile of the group (documents plus matching columns)."""
        group = self._group
        assert group is not None
        rows = []
        for uid, profile in group.profiles.items():
            if not profile.dirty:
                continue
            email = profile.standard.get("email")
            phone = profile.standard.get("phone")
            rows.append(
                (
                    _json_encode(profile.standard).decode(),
                    _json_encode(profile.custom).decode(),
                    email,
                    email_key(email) if isinstance(email, str) else None,
                    phone_key(phone) if isinstance(phone, str) else None,
                    group.now_ms,
                    uid,
                )
            )
            profile.dirty = False
        if rows:
            cur.executemany(
                self._sql(
                    "UPDATE users SET standard = ?, custom = ?, email = ?, email_key = ?, "
                    "phone = ?, updated_at_ms = ? WHERE id = ?"
                ),
                rows,
            )

    # -- catalog ----------------------------------------------------------------------------

    def _catalog_id(self, cur: Any, table: str, ws: int, name: str, time_ms: int) -> int:
        """The id of a custom event or product name, creating the catalog entry when new."""
        key = (table, ws, name)
        found = self._names.get(key)
        if found is not None:
            return found
        group = self._group
        assert group is not None
        found = group.names.get(key)
        if found is not None:
            return found
        row = self._one(
            cur,
            f"INSERT INTO {table} (workspace_id, name, created_at_ms, first_seen_ms, "
            "last_seen_ms) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
            (ws, name, group.now_ms, time_ms, time_ms),
        )
        if row is None:
            row = self._one(
                cur, f"SELECT id FROM {table} WHERE workspace_id = ? AND name = ?", (ws, name)
            )
        found = int(row[0])
        group.names[key] = found
        return found

    def _see(self, key: tuple[Any, ...], time_ms: int, data_type: str | None) -> None:
        """Widen a catalog entry's first/last-seen range for this group."""
        group = self._group
        assert group is not None
        entry = group.seen.get(key)
        if entry is None:
            group.seen[key] = [time_ms, time_ms, data_type]
        else:
            if time_ms < entry[0]:
                entry[0] = time_ms
            if time_ms > entry[1]:
                entry[1] = time_ms

    def _write_seen(self, cur: Any) -> None:
        """Record catalog first/last-seen where this group moved them, or met new properties.

        A property's first/last seen is tracked with its event's (or, for purchases, the
        workspace's purchases') range within a group, and `last_seen` is refreshed once it
        moves by more than SEEN_RESOLUTION_MS, which keeps catalog writes per group small.
        """
        group = self._group
        assert group is not None
        for table, spans, props_table in (
            ("custom_events", group.event_seen, "event_properties"),
            ("products", group.product_seen, None),
        ):
            updates = []
            for cid, (first, last) in sorted(spans.items()):
                types = group.event_props.get(cid) if props_table else None
                if self._widens((table, cid), first, last) or self._new_props(
                    ("event_properties", cid), types
                ):
                    updates.append((first, first, last, last, cid))
                    if types:
                        self._write_props("event_properties", cid, types, first, last)
            if updates:
                cur.executemany(
                    self._sql(
                        f"UPDATE {table} SET first_seen_ms = CASE WHEN first_seen_ms IS NULL OR "
                        "? < first_seen_ms THEN ? ELSE first_seen_ms END, last_seen_ms = CASE "
                        "WHEN last_seen_ms IS NULL OR ? > last_seen_ms THEN ? ELSE last_seen_ms "
                        "END WHERE id = ?"
                    ),
                    updates,
                )
        for ws, (first, last) in sorted(group.purchase_seen.items()):
            types = group.purchase_props.get(ws)
            if types and (
                self._widens(("purchase_properties", ws), first, last)
                or self._new_props(("purchase_properties", ws), types)
            ):
                self._write_props("purchase_properties", ws, types, first, last)
        self._flush_prop_rows(cur)
        attributes = []
        for key, (first, last, data_type) in sorted(group.seen.items()):
            if self._widens(key, first, last):
                attributes.append((key[1], key[2], data_type, first, last, group.now_ms))
        if attributes:
            cur.executemany(
                self._sql(
                    "INSERT INTO custom_attributes (workspace_id, name, data_type, first_seen_ms, "
                    "last_seen_ms, created_at_ms) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (workspace_id, name) DO UPDATE SET "
                    + _WIDEN.format(t="custom_attributes")
                ),
                attributes,
            )

    def _widens(self, key: tuple[Any, ...], first: int, last: int) -> bool:
        """True (and staged) when a range extends what was last written for `key`."""
        group = self._group
        assert group is not None
        known = self._seen.get(key)
        if known is not None and first >= known[0] and last <= known[1] + SEEN_RESOLUTION_MS:
            return False
        if known is not None:
            first, last = min(first, known[0]), max(last, known[1])
        group.written_seen[key] = (first, last)
        return True

    def _new_props(self, key: tuple[str, int], types: dict[str, str] | None) -> bool:
        """True when a group saw a property (or property type) not yet in the catalog."""
        if not types:
            return False
        known = self._props.get(key)
        return known is None or not types.items() <= known.items()

    def _write_props(
        self, table: str, owner: int, types: dict[str, str], first: int, last: int
    ) -> None:
        """Stage property catalog rows for one event (or one workspace's purchases)."""
        group = self._group
        assert group is not None
        group.written_props.setdefault((table, owner), {}).update(types)
        self._prop_rows.setdefault(table, []).extend(
            (owner, name, data_type, first, last) for name, data_type in sorted(types.items())
        )

    def _flush_prop_rows(self, cur: Any) -> None:
        """Upsert the staged property catalog rows."""
        for table, rows in self._prop_rows.items():
            owner = "event_id" if table == "event_properties" else "workspace_id"
            cur.executemany(
                self._sql(
                    f"INSERT INTO {table} ({owner}, name, data_type, first_seen_ms, last_seen_ms) "
                    f"VALUES (?, ?, ?, ?, ?) ON CONFLICT ({owner}, name) DO UPDATE SET "
                    + _WIDEN.format(t=table)
                ),
                rows,
            )
        self._prop_rows = {}

    # -- raw rows and rollups ---------------------------------------------------------------

    def _write_events(self, cur: Any, rows: list[tuple[Any, ...]]) -> None:
        """Append raw event rows (COPY on PostgreSQL)."""
        if not rows:
            return
        columns = "workspace_id, user_id, event_id, app_id, time_ms, properties"
        if self._postgres:
            with cur.copy(f"COPY events ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            insert_rows(cur, f"INSERT INTO events ({columns})", rows)

    def _write_purchases(self, cur: Any, rows: list[tuple[Any, ...]]) -> None:
        """Append raw purchase rows."""
        if not rows:
            return
        columns = (
            "workspace_id, user_id, product_id, app_id, currency, price, quantity, time_ms, "
            "properties"
        )
        if self._postgres:
            with cur.copy(f"COPY purchases ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            insert_rows(cur, f"INSERT INTO purchases ({columns})", rows)

    def _write_rollups(self, cur: Any) -> None:
        """Add this group's counts to the recent hourly rollups (sorted keys: no PG deadlocks)."""
        group = self._group
        assert group is not None
        if group.event_rollups:
            self._upsert(
                cur,
                "INSERT INTO event_rollups_recent (workspace_id, event_id, app_id, hour, count)",
                [(*key, n) for key, n in sorted(group.event_rollups.items())],
                " ON CONFLICT (workspace_id, event_id, app_id, hour) "
                "DO UPDATE SET count = event_rollups_recent.count + excluded.count",
            )
        if group.purchase_rollups:
            self._upsert(
                cur,
                "INSERT INTO purchase_rollups_recent (workspace_id, product_id, app_id, hour, "
                "purchases, quantity, revenue)",
                [
                    (*key, int(t[0]), int(t[1]), t[2])
                    for key, t in sorted(group.purchase_rollups.items())
                ],
                " ON CONFLICT (workspace_id, product_id, app_id, hour) DO UPDATE SET "
                "purchases = purchase_rollups_recent.purchases + excluded.purchases, "
                "quantity = purchase_rollups_recent.quantity + excluded.quantity, "
                "revenue = purchase_rollups_recent.revenue + excluded.revenue",
            )

    def _upsert(self, cur: Any, head: str, rows: list[tuple[Any, ...]], tail: str) -> None:
        """Insert-or-update rows with distinct keys: VALUES blocks on SQLite, executemany on PG."""
        if self._postgres:
            marks = ", ".join(["%s"] * len(rows[0]))
            cur.executemany(f"{head} VALUES ({marks}){tail}", rows)
        else:
            insert_rows(cur, head, rows, tail)
