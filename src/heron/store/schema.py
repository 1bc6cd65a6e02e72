"""Every table heron keeps, as SQLAlchemy Core metadata (the single source for migrations).

Times are UTC epoch milliseconds (`*_ms`) or, for rollup buckets, epoch seconds of the bucket
start. Raw event and purchase tables carry one secondary index, (user_id, time_ms), for one
user's history (heron.users.history); series are read from the hourly rollups written in the
same transaction, never from the raw rows.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# A 64-bit key that is still SQLite's rowid alias (only INTEGER PRIMARY KEY is).
BigId = BigInteger().with_variant(Integer(), "sqlite")
# Names sort case-sensitively by code point on both databases, as Braze lists them.
Name = String(255).with_variant(String(255, collation="C"), "postgresql")

workspaces = Table(
    "workspaces",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("time_zone", String(64), nullable=False, server_default="UTC"),
    Column("created_at_ms", BigInteger, nullable=False),
    # bumped by every identity change that re-points or removes identifiers (merge, identify,
    # delete, alias rename): ingest caches of identifier -> user id are dropped when it moves
    Column("identity_generation", BigInteger, nullable=False, server_default="0"),
)

apps = Table(
    "apps",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), nullable=False, index=True),
    Column("api_id", String(64), nullable=False, unique=True),
    Column("name", String(255), nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), nullable=False, index=True),
    Column("identifier", String(64), nullable=False, unique=True),
    Column("name", String(255), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("permissions", Text, nullable=False),  # JSON list of Braze permission names
    Column("allowed_ips", Text, nullable=False, server_default="[]"),  # JSON list of CIDRs
    Column("created_at_ms", BigInteger, nullable=False),
    Column("last_seen_ms", BigInteger, nullable=True),
    Column("revoked_at_ms", BigInteger, nullable=True),
)

users = Table(
    "users",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), nullable=False),
    Column("braze_id", String(32), nullable=False),
    Column("external_id", String(512), nullable=True),
    Column("email", String(512), nullable=True),
    # SHA-256 of the lower-cased email: a fixed-size, indexable matching key
    Column("email_key", String(64), nullable=True),
    Column("phone", String(512), nullable=True),  # digits (and a leading +), for matching
    Column("created_at_ms", BigInteger, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
    Column("standard", Text, nullable=False, server_default="{}"),  # JSON: standard attributes
    Column("custom", Text, nullable=False, server_default="{}"),  # JSON: custom attributes
    UniqueConstraint("workspace_id", "external_id", name="uq_users_workspace_external_id"),
    UniqueConstraint("workspace_id", "braze_id", name="uq_users_workspace_braze_id"),
    Index("ix_users_email", "workspace_id", "email_key"),
    Index("ix_users_phone", "workspace_id", "phone"),
    # Never reuse a deleted user's id: per-user rows elsewhere (KPIs) must not be inherited.
    sqlite_autoincrement=True,
)

user_aliases = Table(
    "user_aliases",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), nullable=False),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False, index=True),
    Column("alias_label", String(512), nullable=False),
    Column("alias_name", String(512), nullable=False),
    UniqueConstraint(
        "workspace_id", "alias_label", "alias_name", name="uq_user_aliases_label_name"
    ),
)

custom_events = Table(
    "custom_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), nullable=False),
    Column("name", Name, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("included_in_analytics_report", Boolean, nullable=False, server_default="0"),
    Column("status", String(32), nullable=False, server_default="Active"),
    Column("tags", Text, nullable=False, server_default="[]"),  # JSON list of tag names
    Column("created_at_ms", BigInteger, nullable=False),
    Column("first_seen_ms", BigInteger, nullable=True),  # None until first tracked
    Column("last_seen_ms", BigInteger, nullable=True),
    # catalog governance (heron.catalog): when blocklisted / trashed, None otherwise
    Column("blocklisted_at_ms", BigInteger, nullable=True),
    Column("trashed_at_ms", BigInteger, nullable=True),
    UniqueConstraint("workspace_id", "name", name="uq_custom_events_workspace_name"),
)

event_properties = Table(
    "event_properties",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("event_id", Integer, ForeignKey("custom_events.id"), nullable=False),
    Column("name", Name, nullable=False),
    Column("data_type", String(32), nullable=False),
    Column("first_seen_ms", BigInteger, nullable=False),
    Column("last_seen_ms", BigInteger, nullable=False),
    UniqueConstraint("event_id", "name", name="uq_event_properties_event_name"),
)

products = Table(
    "products",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), nullable=False),
    Column("name", Name, nullable=False),
    Column("status", String(32), nullable=False, server_default="Active"),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("first_seen_ms", BigInteger, nullable=True),
    Column("last_seen_ms", BigInteger, nullable=True),
    Column("description", Text, nullable=False, server_default=""),
    Column("tags", Text, nullable=False, server_default="[]"),
    Column("blocklisted_at_ms", BigInteger, nullable=True),
    UniqueConstraint("workspace_id", "name", name="uq_products_workspace_name"),
)

purchase_properties = Table(
    "purchase_properties",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), nullable=False),
    Column("name", Name, nullable=False),
    Column("data_type", String(32), nullable=False),
    Column("first_seen_ms", BigInteger, nullable=False),
    Column("last_seen_ms", BigInteger, nullable=False),
    UniqueConstraint("workspace_id", "name", name="uq_purchase_properties_workspace_name"),
)

custom_attributes = Table(
    "custom_attributes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), nullable=False),
    Column("name", Name, nullable=False),
    Column("data_type", String(32), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("status", String(32), nullable=False, server_default="Active"),
    Column("tags", Text, nullable=False, server_default="[]"),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("first_seen_ms", BigInteger, nullable=True),
    Column("last_seen_ms", BigInteger, nullable=True),
    Column("blocklisted_at_ms", BigInteger, nullable=True),
    Column("trashed_at_ms", BigInteger, nullable=True),
    UniqueConstraint("workspace_id", "name", name="uq_custom_attributes_workspace_name"),
)

events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("workspace_id", Integer, nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("event_id", Integer, nullable=False),  # custom_events.id
    Column("app_id", Integer, nullable=True),  # apps.id
    Column("time_ms", BigInteger, nullable=False),
    Column("properties", Text, nullable=True),
    # ids are never reused (SQLite would hand out a deleted newest id again): the history
    # indexer and the segment evaluator read new rows by id watermark
    sqlite_autoincrement=True,
)

purchases = Table(
    "purchases",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("workspace_id", Integer, nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("product_id", Integer, nullable=False),  # products.id
    Column("app_id", Integer, nullable=True),
    Column("currency", String(3), nullable=False),
    Column("price", Float, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("time_ms", BigInteger, nullable=False),
    Column("properties", Text, nullable=True),
    sqlite_autoincrement=True,  # as events: ids are never reused
)

# One user's history (exports, merges, deletes, segments, conversions), read through
# heron.users.history. Indexing raw rows by user at ingest would dirty a random page per event
# (measured: 28x slower appends at 10M rows); instead heron.users.history_index copies the raw
# rows past `indexed_upto` into sorted runs (appended at the table's end, since run ids grow)
# and merges runs in tiers, one user range per transaction. Readers look in every run of the
# kind and add the not-yet-indexed tail of the raw tables.
HISTORY_EVENT = 1
HISTORY_PURCHASE = 2

user_history = Table(
    "user_history",
    metadata,
    Column("run", BigInteger, primary_key=True),  # user_history_runs.run
    Column("user_id", BigInteger, primary_key=True),
    Column("kind", Integer, primary_key=True),  # HISTORY_EVENT or HISTORY_PURCHASE
    Column("time_ms", BigInteger, primary_key=True),
    Column("row_id", BigInteger, primary_key=True),  # events.id or purchases.id
    Column("item_id", Integer, nullable=False),  # custom_events.id or products.id
    sqlite_with_rowid=False,
)

user_history_state = Table(
    "user_history_state",
    metadata,
    Column("kind", Integer, primary_key=True),
    Column("indexed_upto", BigInteger, nullable=False),  # every raw row id <= this is in a run
    Column("next_run", BigInteger, nullable=False),  # run ids: next_run * 4 + kind
    Column("passed_at_ms", BigInteger, nullable=False),  # when the last pass ran
)

user_history_runs = Table(
    "user_history_runs",
    metadata,
    Column("run", BigInteger, primary_key=True),
    Column("kind", Integer, nullable=False),
    Column("level", Integer, nullable=False),  # merge tier: FANOUT runs of a level make one
    Column("rows", BigInteger, nullable=False),
    Column("merging_into", BigInteger, nullable=True),  # a merge source: its target run
    # a merge target: users below user_done are merged, up to user_last, user_span per chunk
    Column("user_done", BigInteger, nullable=True),
    Column("user_last", BigInteger, nullable=True),
    Column("user_span", BigInteger, nullable=True),
)

# Rollups live in two tables of the same shape: ingest adds to the small `*_recent` table (a
# commit touches few pages however large history grows) and the writer periodically folds
# closed hours into the large `*_hourly` table. Readers sum both (heron.analytics.rollups).

# app 0 is "all apps" (every event counts there once, with or without an app_id).
ALL_APPS = 0
# product 0 is "all products" in purchase rollups.
ALL_PRODUCTS = 0

event_rollups_hourly = Table(
    "event_rollups_hourly",
    metadata,
    Column("workspace_id", Integer, primary_key=True),
    Column("event_id", Integer, primary_key=True),
    Column("app_id", Integer, primary_key=True),
    Column("hour", BigInteger, primary_key=True),  # epoch seconds of the local hour's start
    Column("count", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

purchase_rollups_hourly = Table(
    "purchase_rollups_hourly",
    metadata,
    Column("workspace_id", Integer, primary_key=True),
    Column("product_id", Integer, primary_key=True),
    Column("app_id", Integer, primary_key=True),
    Column("hour", BigInteger, primary_key=True),
    Column("purchases", BigInteger, nullable=False),  # purchase objects
    Column("quantity", BigInteger, nullable=False),  # items (sum of quantity)
    Column("revenue", Float, nullable=False),  # sum of price * quantity
    sqlite_with_rowid=False,
)

event_rollups_recent = Table(
    "event_rollups_recent",
    metadata,
    Column("workspace_id", Integer, primary_key=True),
    Column("event_id", Integer, primary_key=True),
    Column("app_id", Integer, primary_key=True),
    Column("hour", BigInteger, primary_key=True),
    Column("count", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

purchase_rollups_recent = Table(
    "purchase_rollups_recent",
    metadata,
    Column("workspace_id", Integer, primary_key=True),
    Column("product_id", Integer, primary_key=True),
    Column("app_id", Integer, primary_key=True),
    Column("hour", BigInteger, primary_key=True),
    Column("purchases", BigInteger, nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("revenue", Float, nullable=False),
    sqlite_with_rowid=False,
)

# `Idempotency-Key` ledger of /users/track (heron.ingest.idempotency): a key's first answer.
track_idempotency = Table(
    "track_idempotency",
    metadata,
    Column("workspace_id", Integer, primary_key=True),
    Column("idempotency_key", String(255), primary_key=True),
    Column("digest", String(64), nullable=False),  # SHA-256 of the request body
    Column("response", LargeBinary, nullable=False),  # the JSON answer sent the first time
    Column("created_at_ms", BigInteger, nullable=False, index=True),
)

# Per-local-day totals of the hourly tables (heron.analytics.dayrollups): `day` is the epoch
# second of the local midnight (workspace zone) that starts the day; a row holds the sum of the
# `*_hourly` rows of that day. The writer's fold keeps them equal; day series read these.
event_rollups_daily = Table(
    "event_rollups_daily",
    metadata,
    Column("workspace_id", Integer, primary_key=True),
    Column("event_id", Integer, primary_key=True),
    Column("app_id", Integer, primary_key=True),
    Column("day", BigInteger, primary_key=True),
    Column("count", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

purchase_rollups_daily = Table(
    "purchase_rollups_daily",
    metadata,
    Column("workspace_id", Integer, primary_key=True),
    Column("product_id", Integer, primary_key=True),
    Column("app_id", Integer, primary_key=True),
    Column("day", BigInteger, primary_key=True),
    Column("purchases", BigInteger, nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("revenue", Float, nullable=False),
    sqlite_with_rowid=False,
)

# Per-workspace overrides of the rate-limit buckets in `heron.ratelimit.buckets` (no row =
# Braze's default for that bucket). `heron workspaces rate-limit` edits them; running servers
# reload them every few seconds.
rate_limits = Table(
    "rate_limits",
    metadata,
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), primary_key=True),
    Column("bucket", String(64), primary_key=True),
    Column("max_requests", Integer, nullable=False),
    Column("period_seconds", Integer, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
)

# Daily KPIs (heron.analytics.kpi), counted at write time. `day` is the local calendar day in
# the workspace's zone as days since 1970-01-01; app 0 is "all apps".
kpi_user_days = Table(
    "kpi_user_days",
    metadata,
    Column("workspace_id", Integer, primary_key=True),
    Column("app_id", Integer, primary_key=True),
    Column("user_id", BigInteger, primary_key=True),
    Column("day", Integer, primary_key=True),  # a day the user was active (event or purchase)
    sqlite_with_rowid=False,
)

kpi_users = Table(
    "kpi_users",
    metadata,
    Column("workspace_id", Integer, primary_key=True),
    Column("app_id", Integer, primary_key=True),
    Column("user_id", BigInteger, primary_key=True),
    Column("first_day", Integer, nullable=False),  # first and last active day
    Column("last_day", Integer, nullable=False),
    # the range before the row's latest update, so that the upsert can return it
    Column("prev_first_day", Integer, nullable=True),
    Column("prev_last_day", Integer, nullable=True),
    sqlite_with_rowid=False,
)

# (user, app, day) pairs a SQLite ingest group saw and the KPI tables may not hold yet, appended
# in the group's transaction and folded into them in batches (heron.analytics.kpi): one append
# per pair instead of a random write into `kpi_users` per pair. Unused on PostgreSQL.
kpi_pending = Table(
    "kpi_pending",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("workspace_id", Integer, nullable=False),
    Column("app_id", Integer, nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("day", Integer, nullable=False),
)

# A batch of `kpi_pending` being folded, once per pair and in key order: taken from it in one
# transaction, then folded into the KPI tables a key range at a time, each range in a
# transaction of its own (heron.analytics.kpi.fold_slice), by whichever writer comes next.
# Unused on PostgreSQL.
kpi_folding = Table(
    "kpi_folding",
    metadata,
    Column("workspace_id", Integer, primary_key=True),
    Column("app_id", Integer, primary_key=True),
    Column("user_id", BigInteger, primary_key=True),
    Column("day", Integer, primary_key=True),
    sqlite_with_rowid=False,
)

# Where SQLite ingest's deferred pairs wait until folded: whatever reads KPI rows per user, or
# deletes them, must look here too.
kpi_waiting = (kpi_pending, kpi_folding)

kpi_daily = Table(
    "kpi_daily",
    metadata,
    Column("workspace_id", Integer, primary_key=True),
    Column("app_id", Integer, primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("dau", BigInteger, nullable=False),  # users active that day
    Column("new_users", BigInteger, nullable=False),
    # MAU as a difference array: MAU(D) = sum of mau_delta over days <= D
    Column("mau_delta", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

# Campaigns (heron.campaigns): definitions managed through /heron/v1/campaigns, the sends and
# engagement the messaging side records, and their daily aggregates (local days of the
# workspace's zone, days since 1970-01-01). `api_id` is the campaign's Braze API identifier.
campaigns = Table(
    "campaigns",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), nullable=False),
    Column("api_id", String(64), nullable=False),
    Column("name", Name, nullable=False),
    Column("archived", Boolean, nullable=False, server_default="0"),
    Column("definition", Text, nullable=False),  # JSON: heron.campaigns.definition
    Column("created_at_ms", BigInteger, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
    Column("first_sent_ms", BigInteger, nullable=True),
    Column("last_sent_ms", BigInteger, nullable=True),
    UniqueConstraint("workspace_id", "api_id", name="uq_campaigns_workspace_api_id"),
    Index("ix_campaigns_workspace_created", "workspace_id", "created_at_ms"),
)

campaign_receipts = Table(
    "campaign_receipts",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("workspace_id", Integer, nullable=False),
    Column("campaign_id", BigInteger, nullable=False),  # campaigns.id
    Column("variation_id", Text, nullable=False),
    Column("channel", String(32), nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("time_ms", BigInteger, nullable=False),
    Index("ix_campaign_receipts_campaign_time", "campaign_id", "time_ms"),
)

campaign_engagements = Table(
    "campaign_engagements",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("workspace_id", Integer, nullable=False),
    Column("campaign_id", BigInteger, nullable=False),
    Column("variation_id", Text, nullable=False),
    Column("channel", String(32), nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),  # heron.campaigns.engagement.KINDS
    Column("time_ms", BigInteger, nullable=False),
    Index("ix_campaign_engagements_campaign_kind_time", "campaign_id", "kind", "time_ms"),
)

# Per (campaign, variation, channel, local day, metric): events and distinct users. The
# campaign-wide distinct recipients use variation_id = channel = "".
campaign_daily = Table(
    "campaign_daily",
    metadata,
    Column("campaign_id", BigInteger, primary_key=True),
    Column("variation_id", Text, primary_key=True),
    Column("channel", String(32), primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("metric", String(32), primary_key=True),
    Column("total", BigInteger, nullable=False),
    Column("uniques", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

campaign_daily_users = Table(
    "campaign_daily_users",
    metadata,
    Column("campaign_id", BigInteger, primary_key=True),
    Column("variation_id", Text, primary_key=True),
    Column("channel", String(32), primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("metric", String(32), primary_key=True),
    Column("user_id", BigInteger, primary_key=True),
    sqlite_with_rowid=False,
)

# Session starts and app upgrades per user (conversion sources with no other store yet).
user_activity = Table(
    "user_activity",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("workspace_id", Integer, nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),  # session_start | app_upgrade
    Column("app_id", Integer, nullable=True),  # apps.id
    Column("time_ms", BigInteger, nullable=False),
    Index("ix_user_activity_user_time", "user_id", "time_ms"),
)

# Segments (heron.segments): definitions, current members, the evaluator's progress, daily
# sizes, and per-segment rollups of tracked segments. The rollups use 15-minute UTC buckets
# (`bucket`, epoch seconds), so every local hour and day of any zone of today is a whole set of
# buckets and a workspace's zone change needs no rebuild.
segments = Table(
    "segments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), nullable=False, index=True),
    Column("segment_id", String(36), nullable=False, unique=True),  # the API identifier
    Column("name", String(255), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("tags", Text, nullable=False, server_default="[]"),
    Column("filter", Text, nullable=False),  # JSON filter tree (heron.segments.definition)
    Column("analytics_tracking", Boolean, nullable=False, server_default="0"),
    # raw event / purchase ids at the moment tracking was turned on: later ones are counted
    Column("tracking_events_after", BigInteger, nullable=True),
    Column("tracking_purchases_after", BigInteger, nullable=True),
    Column("archived", Boolean, nullable=False, server_default="0"),
    Column("size", BigInteger, nullable=False, server_default="0"),
    # a full evaluation pass is due from this user id on (None: membership is current)
    Column("backfill_after", BigInteger, nullable=True),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
)

segment_members = Table(
    "segment_members",
    metadata,
    Column("user_id", BigInteger, primary_key=True),
    Column("segment_id", Integer, primary_key=True),  # segments.id
    sqlite_with_rowid=False,
)

# Users whose attributes changed, appended by /users/track; the evaluator consumes it.
segment_user_changes = Table(
    "segment_user_changes",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("user_id", BigInteger, nullable=False),
    # ids are watermarks: never reuse one after the consumed rows are deleted
    sqlite_autoincrement=True,
)

# When a user's membership may change by time passing alone ("in the last 7 days").
segment_rechecks = Table(
    "segment_rechecks",
    metadata,
    Column("user_id", BigInteger, primary_key=True),
    Column("workspace_id", Integer, nullable=False),
    Column("due_ms", BigInteger, nullable=False, index=True),
)

# The evaluator's watermarks ('events', 'purchases', 'changes') and its lease ('lease').
segment_progress = Table(
    "segment_progress",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("value", BigInteger, nullable=False),
    Column("owner", String(64), nullable=True),
)

segment_daily_sizes = Table(
    "segment_daily_sizes",
    metadata,
    Column("segment_id", Integer, primary_key=True),
    Column("day", Integer, primary_key=True),  # local date of the workspace, days since 1970
    Column("size", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

segment_event_rollups = Table(
    "segment_event_rollups",
    metadata,
    Column("segment_id", Integer, primary_key=True),
    Column("event_id", Integer, primary_key=True),
    Column("app_id", Integer, primary_key=True),
    Column("bucket", BigInteger, primary_key=True),
    Column("count", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

segment_purchase_rollups = Table(
    "segment_purchase_rollups",
    metadata,
    Column("segment_id", Integer, primary_key=True),
    Column("product_id", Integer, primary_key=True),
    Column("app_id", Integer, primary_key=True),
    Column("bucket", BigInteger, primary_key=True),
    Column("purchases", BigInteger, nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("revenue", Float, nullable=False),
    sqlite_with_rowid=False,
)
