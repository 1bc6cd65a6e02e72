"""Daily KPIs counted at write time: active users (DAU), rolling 30-day MAU and new users.

Definitions (per workspace, in its time zone; `app_id` 0 means "all apps"):

- A user is *active* on a local calendar day when at least one of their events or purchases
  has a `time` on that day; for an app, one carrying that app's `app_id`.
- *DAU* of a day: the number of active users. *MAU* of a day D: the number of users active on
  at least one day of the 30 days D-29..D (D included).
- *New users* of a day, all apps: profiles created that day (the server's clock when the
  profile was created, as `users.created_at_ms`). For one app: users whose first active day
  with that app is that day (Braze counts a user as new to an app at their first session in
  it; heron has no sessions, so the first event or purchase with the app stands for it).

All counts are exact. Storage (`heron.store.schema`):

- `kpi_user_days` (workspace, app, user, day): one row per active user and day, inserted if
  absent: the exact record DAU and MAU are counted from, except that a user's first day with
  an app (or all apps) may be recorded by `kpi_users.first_day` alone. A new (user, app) pair
  thus costs one row, not two (a bulk import into a new heron is almost only new pairs); when
  an earlier day becomes the first one, the old first day gets its `kpi_user_days` row.
- `kpi_users` (workspace, app, user): the user's first and last active day. Its upsert locks
  the user's row, which serializes concurrent writers (PostgreSQL) touching the same user, and
  returns the previous range (`prev_*`), so the common case (a day after every known one)
  needs no read of `kpi_user_days`.
- `kpi_daily` (workspace, app, day): `dau`, `new_users` and `mau_delta`. MAU is kept as a
  difference array: a user's activity on day d covers d..d+29; each newly recorded day adds
  the part of its window not already covered (+1 where it starts, -1 after it ends), so the MAU
  of day D is the sum of `mau_delta` over all days <= D. Reads are one index range per series.

Writes happen inside the group's transaction (`KpiRecorder.record`, called once per group by
`heron.ingest.trackstore`), so counts commit or roll back with the raw rows. Steady state costs
one pass over the group's rows: each (user, app, day) already recorded is recognised by a
per-process filter (a bitmap per workspace, app and day, indexed by user id: 1.25 MB per 10
million users) and costs no SQL. Entries reach the filter only after their transaction
commits. Only new (user, app, day) pairs reach the database:

- PostgreSQL: one `kpi_users` upsert and one `kpi_user_days` insert each (the upsert alone for
  a pair never seen before), plus one `kpi_daily` upsert per touched (app, day). Keys are
  written in sorted order so that concurrent writers cannot deadlock.
- SQLite (one writer at a time for the whole database): the group appends the pairs to
  `kpi_pending`, in its transaction, so they are as durable as the raw rows, and the pairs are
  folded into the KPI tables in batches, a step at a time between groups (`KpiRecorder.fold`):
  once BATCH_ROWS are pending (or FOLD_SECONDS after a batch was last taken), a writer takes
  them into `kpi_folding`, once per pair and in key order (`take_pending`), and then it and
  the other writers fold that batch a key range of SLICE_PAIRS pairs per transaction
  (`fold_slice`). Readers fold everything first (`fold_pending`, heron.analytics.kpi_routes)
  or read the waiting pairs too (the segment evaluator's app usage), so every acknowledged
  event is counted when read. A new pair inserted into the big `kpi_users` B-tree at random
  dirtied about one page per pair; folded in key order, tens of thousands at a time, most pages
  take several pairs, and slices keep each transaction short (docs/performance.md).

`rebuild_kpis` recomputes a workspace's tables from the raw `events`, `purchases` and `users`
rows (after a time-zone change).
"""

from __future__ import annotations

import bisect
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select, text
from sqlalchemy.engine import Connection

from heron.analytics.buckets import zone
from heron.store.bulk import insert_rows
from heron.store.driver import raw_cursor
from heron.store.schema import (
    ALL_APPS,
    kpi_daily,
    kpi_user_days,
    kpi_users,
    kpi_waiting,
)

__all__ = [
    "DAY_MS",
    "MAU_DAYS",
    "KpiGroup",
    "KpiRecorder",
    "LocalDays",
    "Metric",
    "daily_series",
    "fold_job",
    "fold_pending",
    "fold_slice",
    "iso_day",
    "pending_exist",
    "pending_size",
    "rebuild_kpis",
    "take_pending",
]

DAY_MS = 86_400_000
MAU_DAYS = 30
Metric = Literal["dau", "mau", "new_users"]

# The filter's bitmaps are split in chunks of 2**16 user ids (8 KiB each), allocated on use.
_CHUNK_SHIFT = 16
_CHUNK_BYTES = 1 << (_CHUNK_SHIFT - 3)
_BYTE_MASK = _CHUNK_BYTES - 1
_BIT = tuple(1 << n for n in range(8))
assert (_CHUNK_SHIFT, _BYTE_MASK) == (16, 8191), "KpiRecorder._scan spells these out"
DEFAULT_FILTER_BYTES = 64 << 20  # beyond this, the oldest days are forgotten
_ROWS_PER_STATEMENT = 500
_SPANS_KEPT = 8

# Offsets are looked up for instants clamped to what `datetime` can represent in any zone.
_MIN_SECONDS = -62_135_596_800 + 2 * 86_400  # 0001-01-03T00:00:00Z
_MAX_SECONDS = 253_402_300_799 - 2 * 86_400  # 9999-12-29T23:59:59Z
_MS = timedelta(milliseconds=1)


class KpiGroup(Protocol):
    """What the recorder reads from a track group (heron.ingest.trackstore's `_Group`)."""

    # (ws, user_id, event_id, app_id | None, time_ms, properties)
    events: list[tuple[Any, ...]]
    # (ws, user_id, product_id, app_id | None, currency, price, quantity, time_ms, properties)
    purchases: list[tuple[Any, ...]]
    created_users: dict[int, tuple[int, int]]  # user_id -> (ws, created_at_ms)
    time_zones: dict[int, str]  # ws -> the workspace's time zone


# -- calendar days ------------------------------------------------------------------------------


def utc_offset_ms(tz: ZoneInfo | None, time_ms: int) -> int:
    """The zone's UTC offset at an instant, in milliseconds."""
    if tz is None:
        return 0
    seconds = min(max(time_ms // 1000, _MIN_SECONDS), _MAX_SECONDS)
    offset = datetime.fromtimestamp(seconds, tz).utcoffset()
    return 0 if offset is None else offset // _MS


class LocalDays:
    """Local calendar days of one zone (days since 1970-01-01) for UTC instants, memoized.

    `day_of` leaves in `lo`/`hi` the span of instants around its argument that share its day
    (a whole local day, or the part of a DST day with one offset), so callers can test
    `lo <= t < hi` before calling again.
    """

    __slots__ = ("_spans", "_tz", "day", "hi", "lo", "time_zone")

    def __init__(self, time_zone: str) -> None:
        self.time_zone = time_zone
        self._tz = zone(time_zone)
        self.lo = 0
        self.hi = 0
        self.day = 0
        self._spans: list[tuple[int, int, int]] = []

    def day_of(self, time_ms: int) -> int:
        """The local day holding `time_ms`."""
        for span in self._spans:
            if span[0] <= time_ms < span[1]:
                self.lo, self.hi, self.day = span
                return self.day
        span = self._span(time_ms)
        self._spans.insert(0, span)
        del self._spans[_SPANS_KEPT:]
        self.lo, self.hi, self.day = span
        return self.day

    def _span(self, t: int) -> tuple[int, int, int]:
        """(lo, hi, day): the instants around `t` that fall on the same local day."""
        tz = self._tz
        if tz is None:
            day = t // DAY_MS
            return day * DAY_MS, (day + 1) * DAY_MS, day
        offset = utc_offset_ms(tz, t)
        day = (t + offset) // DAY_MS
        lo = day * DAY_MS - offset
        hi = lo + DAY_MS
        # A transition inside the day: keep the part with `t`'s offset (one transition a day).
        if utc_offset_ms(tz, lo) != offset:
            low, high = lo, t  # offset(low) differs, offset(high) matches
            while high - low > 1:
                middle = (low + high) // 2
                if utc_offset_ms(tz, middle) == offset:
                    high = middle
                else:
                    low = middle
            lo = high
        if utc_offset_ms(tz, hi - 1) != offset:
            low, high = t, hi - 1  # offset(low) matches, offset(high) differs
            while high - low > 1:
                middle = (low + high) // 2
                if utc_offset_ms(tz, middle) == offset:
                    low = middle
                else:
                    high = middle
            hi = high
        return lo, hi, day


def iso_day(day: int) -> str:
    """`YYYY-MM-DD` of a day number (days since 1970-01-01), for any year 0..9999."""
    # Howard Hinnant's civil_from_days (proleptic Gregorian calendar).
    z = day + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1_460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    y = yoe + era * 400 + (1 if m <= 2 else 0)
    return f"{y:04d}-{m:02d}-{d:02d}"


# -- the write side ------------------------------------------------------------------------------

# Bitmaps of one (workspace, day): app key -> chunk number -> 8 KiB of bits. The all-apps
# bitmap is stored under both ALL_APPS (0) and None (events without an app_id).
_DayMaps = dict[int | None, dict[int, bytearray]]
_Key = tuple[int, int, int]  # (workspace_id, app key, user_id)
# Per (workspace_id, app key, day): DAU, new users and MAU deltas added by one group.
_Counts = tuple[dict[_Key, int], dict[_Key, int], dict[_Key, int]]


# Writes: multi-row VALUES on SQLite (heron.store.bulk); one statement over arrays on PostgreSQL
# (`unnest`, sorted so that concurrent writers lock rows in the same order).
_INSERT_USERS = "INSERT INTO kpi_users (workspace_id, app_id, user_id, first_day, last_day)"
# Widen the user's range and return the one it had (None, None: a new row). A row whose range
# already holds every wanted day is left unchanged and not returned, yet locked on PostgreSQL.
_ON_USER = (
    "ON CONFLICT (workspace_id, app_id, user_id) DO UPDATE SET "
    "prev_first_day = kpi_users.first_day, prev_last_day = kpi_users.last_day, "
    "first_day = CASE WHEN excluded.first_day < kpi_users.first_day "
    "THEN excluded.first_day ELSE kpi_users.first_day END, "
    "last_day = CASE WHEN excluded.last_day > kpi_users.last_day "
    "THEN excluded.last_day ELSE kpi_users.last_day END "
    "WHERE excluded.first_day < kpi_users.first_day OR excluded.last_day > kpi_users.last_day "
    "RETURNING workspace_id, app_id, user_id, prev_first_day, prev_last_day"
)
_PG_UPSERT_USERS = (
    f"{_INSERT_USERS} SELECT * FROM unnest(%s::integer[], %s::integer[], %s::bigint[], "
    f"%s::integer[], %s::integer[]) AS v(w, a, u, f, l) ORDER BY w, a, u {_ON_USER}"
)
_SQLITE_INSERT_DAYS = "INSERT INTO kpi_user_days (workspace_id, app_id, user_id, day)"
_PG_INSERT_DAYS = (
    "INSERT INTO kpi_user_days (workspace_id, app_id, user_id, day) SELECT * FROM "
    "unnest(%s::integer[], %s::integer[], %s::bigint[], %s::integer[]) AS v(w, a, u, d) "
    "ORDER BY w, a, u, d ON CONFLICT DO NOTHING"
)
_ADD_DAILY = (
    "ON CONFLICT (workspace_id, app_id, day) DO UPDATE SET dau = kpi_daily.dau + excluded.dau, "
    "new_users = kpi_daily.new_users + excluded.new_users, "
    "mau_delta = kpi_daily.mau_delta + excluded.mau_delta"
)
_SQLITE_ADD_DAILY = "INSERT INTO kpi_daily (workspace_id, app_id, day, dau, new_users, mau_delta)"
_PG_ADD_DAILY = (
    "INSERT INTO kpi_daily (workspace_id, app_id, day, dau, new_users, mau_delta) SELECT * FROM "
    "unnest(%s::integer[], %s::integer[], %s::integer[], %s::bigint[], %s::bigint[], "
    f"%s::bigint[]) AS v(w, a, d, x, n, m) ORDER BY w, a, d {_ADD_DAILY}"
)


class KpiRecorder:
    """Counts each group's active and new users into the KPI tables; one per writer thread."""

    def __init__(self, postgres: bool, *, filter_bytes: int = DEFAULT_FILTER_BYTES) -> None:
        self._postgres = postgres
        self._filter_limit = filter_bytes
        self._filter: dict[tuple[int, int], _DayMaps] = {}
        self._filter_bytes = 0
        self._clocks: dict[int, LocalDays] = {}
        self._staged: list[tuple[int, int, int, int]] = []  # (ws, app key, day, user) to publish
        # SQLite defers pairs to `kpi_pending` (see `fold`): rows this writer appended
        # since it last looked at how much is pending; when it last saw a batch taken (by
        # itself or, folding one of its slices, by another writer) and last stepped
        # (time.monotonic()); whether a batch was in progress then (a crashed process may
        # have left one: look once at start)
        self._defer = not postgres
        self.pending_rows = 0
        self._taken_at = self._stepped_at = time.monotonic()
        self._slicing = not postgres
        self._waiting = False  # rows were pending, not yet taken, when it last looked
        self._fold_failed = False
        # what the step in progress leaves: (slicing, looked at kpi_pending, rows waiting)
        self._step = (False, False, False)

    # -- transaction bookkeeping ----------------------------------------------------------------

    def commit(self) -> None:
        """Publish what the committed group recorded into the filter."""
        staged, self._staged = self._staged, []
        for ws, app, day, uid in staged:
            self._remember(ws, app, day, uid)
        if self._filter_bytes > self._filter_limit:
            self._evict()

    def discard(self) -> None:
        """Forget what a rolled-back group recorded."""
        self._staged = []

    def _remember(self, ws: int, app: int, day: int, uid: int) -> None:
        """Set a user's bit in the filter."""
        maps = self._filter.get((ws, day))
        if maps is None:
            maps = self._filter[(ws, day)] = {}
        bits = maps.get(app)
        if bits is None:
            bits = maps[app] = {}
            if app == ALL_APPS:
                maps[None] = bits
        chunk = bits.get(uid >> _CHUNK_SHIFT)
        if chunk is None:
            chunk = bits[uid >> _CHUNK_SHIFT] = bytearray(_CHUNK_BYTES)
            self._filter_bytes += _CHUNK_BYTES
        chunk[(uid >> 3) & _BYTE_MASK] |= _BIT[uid & 7]

    def _evict(self) -> None:
        """Forget the oldest days until the filter is within three quarters of its budget."""
        for key in sorted(self._filter, key=lambda k: k[1]):
            if self._filter_bytes <= self._filter_limit * 3 // 4:
                break
            self._drop(key)

    def _drop(self, key: tuple[int, int]) -> None:
        """Forget one (workspace, day) of the filter."""
        maps = self._filter.pop(key)
        chunks = {id(bits): len(bits) for app, bits in maps.items() if app is not None}
        self._filter_bytes -= sum(chunks.values()) * _CHUNK_BYTES

    def _use_zone(self, ws: int, time_zone: str) -> None:
        """Start counting a workspace in a (new) zone: its days so far mean something else."""
        for key in [k for k in self._filter if k[0] == ws]:
            self._drop(key)
        self._clocks[ws] = LocalDays(time_zone)

    # -- deferred pairs (SQLite) ----------------------------------------------------------

    def fold_due(self) -> bool:
        """Whether this writer should take a step of folding now (after a group, or when idle):
        a batch is in progress, or it appended enough (or long enough ago) to look.

        After a failed step the next one waits FOLD_SECONDS, however many rows pile up.
        """
        if self._fold_failed:
            return time.monotonic() - self._stepped_at >= FOLD_SECONDS
        if self._slicing or self.pending_rows >= CHECK_ROWS:
            return True
        if not self.pending_rows and not self._waiting:
            return False
        return time.monotonic() - self._stepped_at >= FOLD_SECONDS

    def fold(self, cur: Any) -> int:
        """One step of folding, in the caller's transaction: the next slice of the batch in
        progress, else a new batch taken from `kpi_pending` when BATCH_ROWS are pending (or
        FOLD_SECONDS after one was last taken); the rows folded or taken. Call `folded` once
        the transaction has committed.
        """
        now = time.monotonic()
        self._stepped_at = now
        self._fold_failed = True
        folded = fold_slice(cur, SLICE_PAIRS)
        if folded:
            self._taken_at = now  # someone took a batch lately
            self._step = (True, False, self._waiting)
            return folded
        size = pending_size(cur)
        if size >= BATCH_ROWS or (size and now - self._taken_at >= FOLD_SECONDS):
            self._taken_at = now
            taken = take_pending(cur)
            if taken <= SLICE_PAIRS:  # light traffic: the whole batch at once
                fold_slice(cur, None)
                self._step = (False, True, False)
            else:
                self._step = (True, True, False)
            return taken
        self._step = (False, True, size > 0)
        return 0

    def folded(self) -> None:
        """The step committed."""
        self._slicing, looked, self._waiting = self._step
        if looked:
            self.pending_rows = 0
        self._fold_failed = False

    # -- per group --------------------------------------------------------------------------

    def record(self, cur: Any, group: KpiGroup) -> None:
        """Add a group's active and new users to the KPI tables (in its transaction)."""
        self._staged = []
        for ws, time_zone in group.time_zones.items():
            clock = self._clocks.get(ws)
            if clock is None or clock.time_zone != time_zone:
                self._use_zone(ws, time_zone)
        wanted: set[tuple[int, int | None, int, int]] = set()
        self._scan(group.events, wanted)
        if group.purchases:
            self._scan(((p[0], p[1], None, p[3], p[7], None) for p in group.purchases), wanted)
        if not wanted and not group.created_users:
            return
        counts: _Counts = ({}, {}, {})
        if wanted and self._defer:
            self._defer_active(cur, wanted)
        elif wanted:
            self._record_active(cur, wanted, counts)
        new_users = counts[1]
        for ws, created_ms in group.created_users.values():
            key = (ws, ALL_APPS, self._clocks[ws].day_of(created_ms))
            new_users[key] = new_users.get(key, 0) + 1
        self._add_daily(cur, counts)

    def _add_daily(self, cur: Any, counts: _Counts) -> None:
        """Add counted DAU, new users and MAU deltas to `kpi_daily`."""
        dau, new_users, mau = counts
        rows = [
            (*key, dau.get(key, 0), new_users.get(key, 0), mau.get(key, 0))
            for key in sorted(dau.keys() | new_users.keys() | mau.keys())
        ]
        rows = [row for row in rows if row[3] or row[4] or row[5]]
        if rows and self._postgres:
            cur.execute(_PG_ADD_DAILY, [list(column) for column in zip(*rows, strict=True)])
        elif rows:
            insert_rows(cur, _SQLITE_ADD_DAILY, rows, f" {_ADD_DAILY}")

    def _scan(
        self, rows: Iterable[tuple[Any, ...]], wanted: set[tuple[int, int | None, int, int]]
    ) -> None:
        """Collect the (ws, app, user, day) of rows the filter does not know (the hot loop)."""
        add = wanted.add
        bit = _BIT
        days = self._filter
        clocks = self._clocks
        empty: _DayMaps = {}
        maps = empty
        clock: LocalDays | None = None
        current_ws = -1
        lo = hi = day = 0
        for ws, uid, _name, app, t, _properties in rows:
            if ws != current_ws or t < lo or t >= hi:
                if ws != current_ws:
                    current_ws = ws
                    clock = clocks[ws]
                assert clock is not None
                day = clock.day_of(t)
                lo = clock.lo
                hi = clock.hi
                maps = days.get((ws, day), empty)
            bits = maps.get(app)
            if bits is not None:  # literals: _CHUNK_SHIFT and _BYTE_MASK (asserted below)
                chunk = bits.get(uid >> 16)
                if chunk is not None and chunk[(uid >> 3) & 8191] & bit[uid & 7]:
                    continue
            add((ws, app, uid, day))

    def _keys_of(
        self, wanted: set[tuple[int, int | None, int, int]]
    ) -> tuple[dict[_Key, int], dict[_Key, set[int]]]:
        """The (ws, app, user) keys of wanted pairs, each app's also under all apps (unless the
        filter knows that day), with their day or days; staged for the filter."""
        one: dict[_Key, int] = {}  # key -> its wanted day (the common case: one)
        many: dict[_Key, set[int]] = {}  # keys with several wanted days
        stage = self._staged.append
        filter_days = self._filter
        bit = _BIT
        empty: _DayMaps = {}
        for ws, app, uid, day in wanted:
            if app is not None:
                key = (ws, app, uid)
                known_day = one.setdefault(key, day)
                if known_day != day:
                    many.setdefault(key, {known_day}).add(day)
                stage((ws, app, day, uid))
                bits = filter_days.get((ws, day), empty).get(ALL_APPS)
                if bits is not None:  # literals: _CHUNK_SHIFT and _BYTE_MASK
                    chunk = bits.get(uid >> 16)
                    if chunk is not None and chunk[(uid >> 3) & 8191] & bit[uid & 7]:
                        continue  # already known active in all apps that day
            key = (ws, ALL_APPS, uid)
            known_day = one.setdefault(key, day)
            if known_day != day:
                many.setdefault(key, {known_day}).add(day)
            stage((ws, ALL_APPS, day, uid))
        return one, many

    def _defer_active(self, cur: Any, wanted: set[tuple[int, int | None, int, int]]) -> None:
        """Append the pairs not known to be recorded to `kpi_pending` (SQLite; see `fold`)."""
        one, many = self._keys_of(wanted)
        rows = [(*key, day) for key, day in one.items() if key not in many]
        for key, days in many.items():
            rows += [(*key, day) for day in days]
        insert_rows(cur, _SQLITE_PEND, rows)
        self.pending_rows += len(rows)

    def _record_active(
        self,
        cur: Any,
        wanted: set[tuple[int, int | None, int, int]],
        counts: _Counts,
    ) -> None:
        """Store the (user, app, day) pairs not known to be recorded; count what is new."""
        one, many = self._keys_of(wanted)
        self._store_keys(cur, one, many, counts)

    def _store_keys(
        self, cur: Any, one: dict[_Key, int], many: dict[_Key, set[int]], counts: _Counts
    ) -> None:
        """Record keys' wanted days (`many` for keys with several, else `one`); count new."""
        dau, new_users, mau = counts
        keys = sorted(one)
        rows = [(*key, one[key], one[key]) for key in keys]
        if many:
            for i, key in enumerate(keys):
                days = many.get(key)
                if days is not None:
                    rows[i] = (*key, min(days), max(days))
        previous = self._lock_users(cur, rows)
        new_rows: list[tuple[int, int, int, int]] = []
        slow: list[_Key] = []
        first_days: dict[tuple[int, int, int], int] = {}  # (ws, app, day) -> keys created on it
        for key in keys:
            before = previous.get(key)
            if before is None or key in many:
                slow.append(key)
                continue
            d = one[key]
            last = before[1]
            if last is None:
                # A new key: its kpi_users row records the day (first_day); no kpi_user_days row.
                k = (key[0], key[1], d)
                first_days[k] = first_days.get(k, 0) + 1
                continue
            if d <= last:
                slow.append(key)
                continue
            # The common case for a known key: one day, after every recorded one.
            ws, app, uid = key
            new_rows.append((ws, app, uid, d))
            k = (ws, app, d)
            dau[k] = dau.get(k, 0) + 1
            k = (ws, app, d if last + MAU_DAYS <= d else last + MAU_DAYS)
            mau[k] = mau.get(k, 0) + 1
            k = (ws, app, d + MAU_DAYS)
            mau[k] = mau.get(k, 0) - 1
        for k, n in first_days.items():
            ws, app, d = k
            dau[k] = dau.get(k, 0) + n
            mau[k] = mau.get(k, 0) + n
            end = (ws, app, d + MAU_DAYS)
            mau[end] = mau.get(end, 0) - n
            if app != ALL_APPS:
                new_users[k] = new_users.get(k, 0) + n
        if slow:
            days_of = {key: many.get(key) or {one[key]} for key in slow}
            self._record_slow(cur, slow, days_of, previous, counts, new_rows)
        if new_rows:
            new_rows.sort()
            if self._postgres:
                cur.execute(
                    _PG_INSERT_DAYS, [list(column) for column in zip(*new_rows, strict=True)]
                )
            else:
                insert_rows(cur, _SQLITE_INSERT_DAYS, new_rows, " ON CONFLICT DO NOTHING")

    def _record_slow(
        self,
        cur: Any,
        keys: list[_Key],
        days_of: dict[_Key, set[int]],
        previous: dict[_Key, tuple[int | None, int | None]],
        counts: _Counts,
        new_rows: list[tuple[int, int, int, int]],
    ) -> None:
        """Users with several days, or a day not after their last one: read the days nearby.

        A key's first day may live in `kpi_users.first_day` alone (see `_record_active`): it
        counts as recorded, and when an earlier day becomes the first one, the old first day
        gets its `kpi_user_days` row.
        """
        dau, new_users, mau = counts
        existing: dict[_Key, list[int]] = {}
        lookups: defaultdict[tuple[int, int], list[int]] = defaultdict(list)
        for key in keys:
            before = previous.get(key)
            if before is None or (before[1] is not None and min(days_of[key]) <= before[1]):
                lookups[(key[0], key[1])].append(key[2])
            else:  # every day is after the last recorded one, which is all MAU needs
                existing[key] = [] if before[1] is None else [before[1]]
        if lookups:
            existing.update(self._recorded_days(cur, lookups, days_of, previous))
        for key in keys:
            ws, app, uid = key
            wanted_days = sorted(days_of[key])
            known = existing[key]
            for d in wanted_days:
                i = bisect.bisect_left(known, d)
                if i < len(known) and known[i] == d:
                    continue
                new_rows.append((ws, app, uid, d))
                k = (ws, app, d)
                dau[k] = dau.get(k, 0) + 1
                # MAU: the part of d..d+29 not covered by the user's neighbouring days.
                start = d if i == 0 or known[i - 1] + MAU_DAYS <= d else known[i - 1] + MAU_DAYS
                stop = d + MAU_DAYS if i == len(known) or known[i] > d + MAU_DAYS else known[i]
                if start < stop:
                    mau[(ws, app, start)] = mau.get((ws, app, start), 0) + 1
                    mau[(ws, app, stop)] = mau.get((ws, app, stop), 0) - 1
                known.insert(i, d)
            before = previous.get(key)
            if before is None:
                continue
            first_before = before[0]
            first = wanted_days[0]
            if first_before is not None and first < first_before:
                new_rows.append((ws, app, uid, first_before))  # no longer kpi_users' first day
            if app != ALL_APPS and (first_before is None or first < first_before):
                new_users[(ws, app, first)] = new_users.get((ws, app, first), 0) + 1
                if first_before is not None:
                    k = (ws, app, first_before)
                    new_users[k] = new_users.get(k, 0) - 1

    def _lock_users(
        self, cur: Any, rows: list[tuple[int, int, int, int, int]]
    ) -> dict[_Key, tuple[int | None, int | None]]:
        """Upsert the users' first/last days (locking their rows); return the previous range.

        `rows` are (ws, app, user, first wanted day, last wanted day), sorted. A key in the
        result had its range widened (or was created: previous range None, None); a key not in
        it already had every wanted day within its range (row locked, unchanged).
        """
        if self._postgres:  # one statement, five array parameters, rows locked in key order
            cur.execute(_PG_UPSERT_USERS, [list(column) for column in zip(*rows, strict=True)])
            results = cur.fetchall()
        else:
            results = insert_rows(cur, _INSERT_USERS, rows, f" {_ON_USER}")
        return {(row[0], row[1], row[2]): (row[3], row[4]) for row in results}

    def _recorded_days(
        self,
        cur: Any,
        lookups: dict[tuple[int, int], list[int]],
        days_of: dict[_Key, set[int]],
        previous: dict[_Key, tuple[int | None, int | None]],
    ) -> dict[_Key, list[int]]:
        """Each user's recorded days within MAU reach of the wanted ones (or further), sorted.

        Besides `kpi_user_days`, a key's first day counts: the one its range had before this
        group's upsert (`previous`), or for a key the upsert left unchanged, `kpi_users`'
        current one. An unchanged key whose wanted days are all its first or last day (both
        always recorded) needs no `kpi_user_days` read: the common case of a pair that another
        writer (server process) recorded first.
        """
        found: dict[_Key, list[int]] = {}
        for (ws, app), users in sorted(lookups.items()):
            for start in range(0, len(users), _ROWS_PER_STATEMENT):
                chunk = users[start : start + _ROWS_PER_STATEMENT]
                unchanged = []
                for uid in chunk:
                    key = (ws, app, uid)
                    before = previous.get(key)
                    if before is None:
                        unchanged.append(uid)
                        found[key] = []
                    else:
                        found[key] = [] if before[0] is None else [before[0]]
                read = chunk
                if unchanged:
                    marks = ", ".join(["?"] * len(unchanged))
                    cur.execute(
                        self._sql(
                            "SELECT user_id, first_day, last_day FROM kpi_users WHERE "
                            f"workspace_id = ? AND app_id = ? AND user_id IN ({marks})"
                        ),
                        [ws, app, *unchanged],
                    )
                    settled = set()
                    for uid, first, last in cur.fetchall():
                        key = (ws, app, int(uid))
                        ends = {int(first), int(last)}
                        found[key] = sorted(ends)
                        if days_of[key] <= ends:
                            settled.add(key[2])
                    read = [uid for uid in chunk if uid not in settled]
                if not read:
                    continue
                lo = min(min(days_of[(ws, app, uid)]) for uid in read) - MAU_DAYS
                hi = max(max(days_of[(ws, app, uid)]) for uid in read) + MAU_DAYS
                marks = ", ".join(["?"] * len(read))
                cur.execute(
                    self._sql(
                        "SELECT user_id, day FROM kpi_user_days WHERE workspace_id = ? AND "
                        f"app_id = ? AND day BETWEEN ? AND ? AND user_id IN ({marks})"
                    ),
                    [ws, app, lo, hi, *read],
                )
                for uid, day in cur.fetchall():
                    found[(ws, app, int(uid))].append(int(day))
        for key, days in found.items():
            found[key] = sorted(set(days))
        return found

    def _sql(self, statement: str) -> str:
        """Translate qmark placeholders for psycopg."""
        return statement.replace("?", "%s") if self._postgres else statement


# -- folding deferred pairs (SQLite) -------------------------------------------------------------

# A writer looks at how much is pending once it has appended this many rows since it last looked
# (or FOLD_SECONDS after it last did, if it appended any since).
CHECK_ROWS = 8_000
# Pending rows (both writers' appends) that make a batch: the more pairs a batch holds, the more
# of them share each `kpi_users` page a slice rewrites, but taking it is one transaction
# (bench/kpi_fold.py; docs/performance.md, Bulk import, "Session 10").
BATCH_ROWS = 64_000
# ... or this long after a writer last saw a batch taken, if anything is pending: a backstop
# for light traffic. (At 1 s it also fired during bulk imports, cutting batches small.)
FOLD_SECONDS = 5.0
# Pairs folded per transaction: a batch is folded a key range at a time, so that a big batch
# never holds the write lock for long (no step above 130 ms in bench/kpi_fold.py).
SLICE_PAIRS = 16_000

_SQLITE_PEND = "INSERT INTO kpi_pending (workspace_id, app_id, user_id, day)"
# A new batch: the pending pairs once each, in key order (both workers may have appended one).
_TAKE = (
    "INSERT OR IGNORE INTO kpi_folding (workspace_id, app_id, user_id, day) "
    "SELECT workspace_id, app_id, user_id, day FROM kpi_pending"
)
# The last key of the next slice: the key of its SLICE_PAIRS-th pair (a key's days stay in one).
_SLICE_END = (
    "SELECT workspace_id, app_id, user_id FROM kpi_folding "
    "ORDER BY workspace_id, app_id, user_id, day LIMIT 1 OFFSET ?"
)
# The slice: kpi_folding's keys up to the slice's last one (or all of them).
_UP_TO = "(workspace_id, app_id, user_id) <= (?, ?, ?)"
_ALL = "1"
# One row per pair of the slice, in key order, with the key's current range (f, l: NULL if new).
_FOLD_KEYS = (
    "CREATE TEMP TABLE heron_kpi_fold AS SELECT p.workspace_id AS ws, p.app_id AS app, "
    "p.user_id AS uid, p.day AS d, u.first_day AS f, u.last_day AS l FROM (SELECT * FROM "
    "kpi_folding WHERE {slice}) AS p LEFT JOIN kpi_users AS u ON "
    "u.workspace_id = p.workspace_id AND u.app_id = p.app_id AND u.user_id = p.user_id"
)
# Keys with several pending days (rare: one user's events of one app on two days between
# folds); they take the per-key path. The grouping follows the primary key: no sort.
_FOLD_MULTI = (
    "SELECT workspace_id, app_id, user_id, day FROM kpi_folding JOIN (SELECT workspace_id, "
    "app_id, user_id FROM kpi_folding WHERE {slice} GROUP BY workspace_id, app_id, user_id "
    "HAVING COUNT(*) > 1) USING (workspace_id, app_id, user_id)"
)
_FOLD_DROP_MULTI = (
    "DELETE FROM heron_kpi_fold WHERE EXISTS (SELECT 1 FROM kpi_folding AS q WHERE "
    "q.workspace_id = ws AND q.app_id = app AND q.user_id = uid AND q.day <> d)"
)
# The two common cases, folded in SQL: a new key, or a day after the key's last one.
_FAST = "(f IS NULL OR d > l)"
# A day that is already the key's first or last one is recorded; one in between, or before
# the first, goes through the per-key path.
_FOLD_SLOW = "SELECT ws, app, uid, d FROM heron_kpi_fold WHERE f IS NOT NULL AND d < l AND d <> f"
# Per (app, day) of the fast keys: active users, new to the app, MAU windows starting that
# day; and, for known keys whose last day's window still covers the day, the day that window
# ends (where theirs starts instead).
_FOLD_COUNTS = (
    f"SELECT ws, app, d, CASE WHEN f IS NOT NULL AND l + {MAU_DAYS} > d THEN l + {MAU_DAYS} "
    f"END AS late, COUNT(*), SUM(f IS NULL AND app <> 0), SUM(f IS NULL OR l + {MAU_DAYS} <= d) "
    f"FROM heron_kpi_fold WHERE {_FAST} GROUP BY ws, app, d, late"
)
# A new key's first day lives in kpi_users alone; a known key's new last day gets its row.
_FOLD_DAYS = (
    f"{_SQLITE_INSERT_DAYS} SELECT ws, app, uid, d FROM heron_kpi_fold "
    "WHERE f IS NOT NULL AND d > l ON CONFLICT DO NOTHING"
)
_FOLD_USERS = (
    f"{_INSERT_USERS} SELECT ws, app, uid, d, d FROM heron_kpi_fold WHERE {_FAST} "
    "ON CONFLICT (workspace_id, app_id, user_id) "
    "DO UPDATE SET last_day = excluded.last_day"
)


def pending_size(cur: Any) -> int:
    """About how many rows `kpi_pending` holds (its id span: two index lookups, no scan)."""
    cur.execute("SELECT (SELECT MAX(id) FROM kpi_pending) - (SELECT MIN(id) FROM kpi_pending) + 1")
    row = cur.fetchone()
    return 0 if row is None or row[0] is None else int(row[0])


def take_pending(cur: Any) -> int:
    """Move `kpi_pending` into `kpi_folding` (a batch, once per pair); the rows taken.

    SQLite only, under the write lock. The pairs stay as durable as they were: a crash
    between two slices leaves the rest of the batch to the next fold.
    """
    cur.execute(_TAKE)
    cur.execute("DELETE FROM kpi_pending")
    return int(cur.rowcount)


def fold_slice(cur: Any, pairs: int | None) -> int:
    """Fold the first keys of `kpi_folding` (about `pairs` pairs; None: all) into the KPI
    tables and remove them from it; the pairs folded (0: no batch in progress).

    SQLite only, under the write lock (a writer's own transaction, or a reader's job on the
    writer: heron.analytics.kpi_routes). Keys with one pending day that is new or after their
    last one (nearly all of them) are folded by set-based SQL, in key order, so that a B-tree
    page of `kpi_users` takes all its keys of the batch at once; the rest (several days, or a
    day before the last that is not the first) go through `KpiRecorder`'s per-key path.
    Folding a pair the KPI tables already hold counts nothing, so a slice may run twice.
    """
    cur.execute("SELECT 1 FROM kpi_folding LIMIT 1")
    if cur.fetchone() is None:
        return 0
    where, bound = _ALL, []
    if pairs is not None:
        cur.execute(_SLICE_END, [pairs - 1])
        row = cur.fetchone()
        if row is not None:
            where, bound = _UP_TO, [int(row[0]), int(row[1]), int(row[2])]
    cur.execute("DROP TABLE IF EXISTS temp.heron_kpi_fold")
    cur.execute(_FOLD_KEYS.format(slice=where), bound)
    one: dict[_Key, int] = {}
    many: dict[_Key, set[int]] = {}
    cur.execute(_FOLD_MULTI.format(slice=where), bound)
    for ws, app, uid, day in cur.fetchall():
        key = (int(ws), int(app), int(uid))
        one[key] = int(day)
        many.setdefault(key, set()).add(int(day))
    if many:
        cur.execute(_FOLD_DROP_MULTI)
    cur.execute(_FOLD_SLOW)
    for ws, app, uid, day in cur.fetchall():
        one[(int(ws), int(app), int(uid))] = int(day)
    counts: _Counts = ({}, {}, {})
    dau, new_users, mau = counts
    cur.execute(_FOLD_COUNTS)
    for ws, app, day, late, active, new, starting in cur.fetchall():
        key = (ws, app, day)
        dau[key] = dau.get(key, 0) + active
        new_users[key] = new_users.get(key, 0) + new
        mau[key] = mau.get(key, 0) + starting
        end = (ws, app, day + MAU_DAYS)
        mau[end] = mau.get(end, 0) - active
        if late is not None:
            mau[(ws, app, late)] = mau.get((ws, app, late), 0) + active
    cur.execute(_FOLD_DAYS)
    cur.execute(_FOLD_USERS)
    recorder = KpiRecorder(False)
    if one:
        recorder._store_keys(cur, one, many, counts)
    recorder._add_daily(cur, counts)
    cur.execute(f"DELETE FROM kpi_folding WHERE {where}", bound)
    folded = int(cur.rowcount)
    cur.execute("DROP TABLE temp.heron_kpi_fold")
    return folded


def fold_pending(cur: Any) -> int:
    """Fold everything pending (`kpi_pending` and a batch in progress) at once; the pairs
    folded. For readers, which must see every acknowledged pair (SQLite, under the write lock).
    """
    cur.execute("SELECT 1 FROM kpi_pending LIMIT 1")
    if cur.fetchone() is not None:
        take_pending(cur)
    return fold_slice(cur, None)


def fold_job(conn: Connection) -> int:
    """`fold_pending` as a job for the writer (`GroupCommitWriter.run`): for readers."""
    if conn.dialect.name != "sqlite":
        return 0  # PostgreSQL writers record their pairs in their own transactions
    cur = raw_cursor(conn)
    try:
        return fold_pending(cur)
    finally:
        cur.close()


def pending_exist(conn: Connection) -> bool:
    """Whether pairs wait to be folded (`kpi_pending`, `kpi_folding`) before the KPI tables
    are complete."""
    return any(
        conn.execute(select(table.c.user_id).limit(1)).first() is not None for table in kpi_waiting
    )


# -- the read side -------------------------------------------------------------------------------


def daily_series(
    conn: Connection, workspace_id: int, app_id: int, first_day: int, last_day: int, metric: Metric
) -> list[int]:
    """One value per day in `[first_day, last_day]` (zero-filled), oldest first."""
    t = kpi_daily
    mine = (t.c.workspace_id == workspace_id, t.c.app_id == app_id)
    column = t.c.mau_delta if metric == "mau" else t.c[metric]
    values = [0] * (last_day - first_day + 1)
    for day, value in conn.execute(
        select(t.c.day, column).where(*mine, t.c.day >= first_day, t.c.day <= last_day)
    ):
        values[int(day) - first_day] = int(value)
    if metric != "mau":
        return values
    before = select(func.coalesce(func.sum(t.c.mau_delta), 0)).where(*mine, t.c.day < first_day)
    running = int(conn.execute(before).scalar_one())
    for i, delta in enumerate(values):
        running += delta
        values[i] = running
    return values


# -- rebuilding ----------------------------------------------------------------------------------

_PAGE = 20_000
_SEEN_BOUND = 200_000


def rebuild_kpis(conn: Connection, workspace_id: int, time_zone: str) -> None:
    """Recompute a workspace's KPI tables from its raw rows, counting days in `time_zone`.

    Run it in the transaction that changes the workspace's zone, holding the write lock on
    SQLite (`heron.store.writelock`); on PostgreSQL it locks the KPI tables against writers for
    its duration (readers go on). Writers still using the old zone (API keys are cached for a
    few seconds) can add a few old-zone rows after it: run it again once they are gone.
    Cost: one pass over the workspace's events and purchases, then set-based SQL.
    """
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        # The order writers take them in (kpi_users, kpi_user_days, kpi_daily): no deadlock.
        conn.exec_driver_sql("LOCK TABLE kpi_users, kpi_user_days, kpi_daily IN EXCLUSIVE MODE")
    # pending pairs (SQLite) carry days of the old zone; the raw rows count them again below
    for table in (kpi_users, kpi_user_days, kpi_daily, *kpi_waiting):
        conn.execute(delete(table).where(table.c.workspace_id == workspace_id))
    clock = LocalDays(time_zone)
    insert_days = text(
        "INSERT INTO kpi_user_days (workspace_id, app_id, user_id, day) "
        "VALUES (:ws, :app, :uid, :day) ON CONFLICT DO NOTHING"
    )
    seen: set[tuple[int, int, int]] = set()
    for raw in ("events", "purchases"):
        for rows in _pages(conn, raw, "user_id, app_id, time_ms", workspace_id):
            batch = []
            for uid, app, time_ms in rows:
                day = clock.day_of(time_ms)
                for app_key in (ALL_APPS,) if app is None else (ALL_APPS, app):
                    key = (app_key, uid, day)
                    if key not in seen:
                        seen.add(key)
                        batch.append({"ws": workspace_id, "app": app_key, "uid": uid, "day": day})
            if batch:
                conn.execute(insert_days, batch)
            if len(seen) > _SEEN_BOUND:
                seen.clear()
    params = {"ws": workspace_id}
    conn.execute(
        text(
            "INSERT INTO kpi_users (workspace_id, app_id, user_id, first_day, last_day) "
            "SELECT workspace_id, app_id, user_id, MIN(day), MAX(day) FROM kpi_user_days "
            "WHERE workspace_id = :ws GROUP BY workspace_id, app_id, user_id"
        ),
        params,
    )
    daily: defaultdict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0, 0])
    for app, day, n in conn.execute(
        text(
            "SELECT app_id, day, COUNT(*) FROM kpi_user_days WHERE workspace_id = :ws "
            "GROUP BY app_id, day"
        ),
        params,
    ):
        daily[(int(app), int(day))][0] += int(n)
    for app, day, n in conn.execute(
        text(
            "SELECT app_id, first_day, COUNT(*) FROM kpi_users WHERE workspace_id = :ws "
            "AND app_id <> 0 GROUP BY app_id, first_day"
        ),
        params,
    ):
        daily[(int(app), int(day))][1] += int(n)
    for rows in _pages(conn, "users", "created_at_ms", workspace_id):
        for (created_ms,) in rows:
            daily[(ALL_APPS, clock.day_of(created_ms))][1] += 1
    # Each recorded day d covers d..d+29 from the later of d and (previous day + 30).
    windows = (
        "SELECT app_id, day, LAG(day) OVER (PARTITION BY app_id, user_id ORDER BY day) AS prev "
        "FROM kpi_user_days WHERE workspace_id = :ws"
    )
    for app, start, n in conn.execute(
        text(
            "SELECT app_id, starts, COUNT(*) FROM (SELECT app_id, CASE WHEN prev IS NULL OR "
            f"prev + {MAU_DAYS} <= day THEN day ELSE prev + {MAU_DAYS} END AS starts "
            f"FROM ({windows}) w) s GROUP BY app_id, starts"
        ),
        params,
    ):
        daily[(int(app), int(start))][2] += int(n)
    for app, stop, n in conn.execute(
        text(
            f"SELECT app_id, day + {MAU_DAYS}, COUNT(*) FROM kpi_user_days "
            f"WHERE workspace_id = :ws GROUP BY app_id, day + {MAU_DAYS}"
        ),
        params,
    ):
        daily[(int(app), int(stop))][2] -= int(n)
    counts = [
        {"ws": workspace_id, "app": app, "day": day, "dau": c[0], "new": c[1], "mau": c[2]}
        for (app, day), c in sorted(daily.items())
        if any(c)
    ]
    if counts:
        conn.execute(
            text(
                "INSERT INTO kpi_daily (workspace_id, app_id, day, dau, new_users, mau_delta) "
                "VALUES (:ws, :app, :day, :dau, :new, :mau)"
            ),
            counts,
        )


def _pages(
    conn: Connection, table: str, columns: str, workspace_id: int
) -> Iterator[list[tuple[Any, ...]]]:
    """A workspace's rows of a raw table, a page at a time (keyset on the integer key)."""
    after = -1
    while True:
        rows = conn.execute(
            text(
                f"SELECT id, {columns} FROM {table} WHERE workspace_id = :ws AND id > :after "
                "ORDER BY id LIMIT :limit"
            ),
            {"ws": workspace_id, "after": after, "limit": _PAGE},
        ).all()
        if not rows:
            return
        after = int(rows[-1][0])
        yield [tuple(row[1:]) for row in rows]
