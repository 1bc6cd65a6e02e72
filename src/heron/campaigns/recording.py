"""The store of sends and engagement: the Python interface messaging calls, and its aggregates.

Messaging (a later issue) calls, inside its own transaction:

- `record_sends(conn, workspace_id, campaign_id, [Send(user_id, variation_id, time_ms)])`: the
  users received the variation (a control variation: they were enrolled in the control group);
- `record_engagement(conn, workspace_id, campaign_id, [Engagement(user_id, variation_id, kind,
  time_ms)])`: delivered, opened, clicked, bounced, ... (`heron.campaigns.stats.kinds_for`);
- `record_activity(conn, workspace_id, [Activity(user_id, kind, time_ms, app_id)])`: session
  starts and app upgrades, the sources of the `Starts Session` / `Upgrades App` conversions.

Raw rows are kept (conversions are attributed from them) and each record also adds to the
daily aggregates `/campaigns/data_series` reads: per (campaign, variation, channel, local day of
the workspace's zone, kind) the number of records and of distinct users.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import case, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from heron.analytics.kpi import LocalDays
from heron.campaigns import store
from heron.campaigns.definition import Control, channel_of
from heron.campaigns.stats import ENROLLED, RECIPIENTS, SENT, kinds_for
from heron.store.driver import unindexed
from heron.store.schema import (
    campaign_daily,
    campaign_daily_users,
    campaign_engagements,
    campaign_receipts,
    campaigns,
    user_activity,
    users,
    workspaces,
)

__all__ = [
    "ACTIVITY_KINDS",
    "Activity",
    "Engagement",
    "RecordError",
    "Send",
    "record_activity",
    "record_engagement",
    "record_sends",
]

ActivityKind = Literal["session_start", "app_upgrade"]
ACTIVITY_KINDS: tuple[ActivityKind, ...] = ("session_start", "app_upgrade")
_CHUNK = 500


class RecordError(ValueError):
    """A record that names an unknown campaign, variation, user or kind (nothing is written)."""


@dataclass(frozen=True, slots=True)
class Send:
    """One user received one variation of a campaign at `time_ms`."""

    user_id: int
    variation_id: str
    time_ms: int


@dataclass(frozen=True, slots=True)
class Engagement:
    """One user's engagement with a received variation (`kind`: see `stats.kinds_for`)."""

    user_id: int
    variation_id: str
    kind: str
    time_ms: int


@dataclass(frozen=True, slots=True)
class Activity:
    """One user started a session or upgraded an app (`app_id`: apps.id, None if unknown)."""

    user_id: int
    kind: ActivityKind
    time_ms: int
    app_id: int | None = None


_Key = tuple[str, str, int, str]  # (variation_id, channel, day, kind)


def _campaign(conn: Connection, workspace_id: int, campaign_id: str) -> store.Campaign:
    """The campaign records are about, or a RecordError."""
    found = store.get(conn, workspace_id, campaign_id)
    if found is None:
        raise RecordError(f"campaign '{campaign_id}' does not exist in workspace {workspace_id}")
    return found


def _check_users(conn: Connection, workspace_id: int, user_ids: Iterable[int]) -> None:
    """Every user id must be a user of the workspace."""
    wanted = sorted(set(user_ids))
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        found = set(
            conn.execute(
                select(users.c.id).where(
                    unindexed(users.c.workspace_id) == workspace_id, users.c.id.in_(chunk)
                )
            ).scalars()
        )
        missing = [uid for uid in chunk if uid not in found]
        if missing:
            raise RecordError(f"user {missing[0]} does not exist in workspace {workspace_id}")


def _days(conn: Connection, workspace_id: int) -> LocalDays:
    """Local days of the workspace's zone."""
    zone = conn.execute(
        select(workspaces.c.time_zone).where(workspaces.c.id == workspace_id)
    ).scalar_one()
    return LocalDays(str(zone))


def _insert(conn: Connection, table: Any) -> Any:
    """The dialect's INSERT (for ON CONFLICT clauses)."""
    return pg_insert(table) if conn.dialect.name == "postgresql" else sqlite_insert(table)


def _aggregate(conn: Connection, campaign_id: int, counted: dict[_Key, list[int]]) -> None:
    """Add records to the daily aggregates: totals, and users not yet counted that day."""
    for (variation_id, channel, day, kind), user_ids in sorted(counted.items()):
        new_users = 0
        key = {
            "campaign_id": campaign_id,
            "variation_id": variation_id,
            "channel": channel,
            "day": day,
            "metric": kind,
        }
        for user_id in sorted(set(user_ids)):
            statement = _insert(conn, campaign_daily_users).values(**key, user_id=user_id)
            added = statement.on_conflict_do_nothing().returning(campaign_daily_users.c.user_id)
            new_users += len(conn.execute(added).all())
        upsert = _insert(conn, campaign_daily).values(**key, total=len(user_ids), uniques=new_users)
        conn.execute(
            upsert.on_conflict_do_update(
                index_elements=list(key),
                set_={
                    "total": campaign_daily.c.total + upsert.excluded.total,
                    "uniques": campaign_daily.c.uniques + upsert.excluded.uniques,
                },
            )
        )


def _variation_channels(campaign: store.Campaign, variation_ids: Iterable[str]) -> dict[str, str]:
    """variation id -> channel for the ids used (RecordError for an unknown one)."""
    messages = campaign.definition.messages
    found: dict[str, str] = {}
    for variation_id in variation_ids:
        message = messages.get(variation_id)
        if message is None:
            raise RecordError(
                f"campaign '{campaign.api_id}' has no message variation '{variation_id}'"
            )
        found[variation_id] = channel_of(message)
    return found


def record_sends(
    conn: Connection, workspace_id: int, campaign_id: str, sends: Sequence[Send]
) -> int:
    """Record that users received (or, for a control variation, were enrolled in) a variation."""
    if not sends:
        return 0
    campaign = _campaign(conn, workspace_id, campaign_id)
    channels = _variation_channels(campaign, {s.variation_id for s in sends})
    _check_users(conn, workspace_id, (s.user_id for s in sends))
    days = _days(conn, workspace_id)
    messages = campaign.definition.messages
    counted: dict[_Key, list[int]] = {}
    receipts: list[dict[str, Any]] = []
    enrolled: list[dict[str, Any]] = []
    for send in sends:
        channel = channels[send.variation_id]
        day = days.day_of(send.time_ms)
        row = {
            "workspace_id": workspace_id,
            "campaign_id": campaign.id,
            "variation_id": send.variation_id,
            "channel": channel,
            "user_id": send.user_id,
            "time_ms": send.time_ms,
        }
        if isinstance(messages[send.variation_id], Control):
            enrolled.append({**row, "kind": ENROLLED})
            counted.setdefault((send.variation_id, channel, day, ENROLLED), []).append(send.user_id)
            continue
        receipts.append(row)
        counted.setdefault((send.variation_id, channel, day, SENT), []).append(send.user_id)
        counted.setdefault(("", "", day, RECIPIENTS), []).append(send.user_id)
    if receipts:
        conn.execute(insert(campaign_receipts), receipts)
        first = min(r["time_ms"] for r in receipts)
        last = max(r["time_ms"] for r in receipts)
        conn.execute(
            update(campaigns)
            .where(campaigns.c.id == campaign.id)
            .values(
                first_sent_ms=case(
                    (campaigns.c.first_sent_ms.is_(None), first),
                    (campaigns.c.first_sent_ms > first, first),
                    else_=campaigns.c.first_sent_ms,
                ),
                last_sent_ms=case(
                    (campaigns.c.last_sent_ms.is_(None), last),
                    (campaigns.c.last_sent_ms < last, last),
                    else_=campaigns.c.last_sent_ms,
                ),
            )
        )
    if enrolled:
        conn.execute(insert(campaign_engagements), enrolled)
    _aggregate(conn, campaign.id, counted)
    return len(sends)


def record_engagement(
    conn: Connection, workspace_id: int, campaign_id: str, items: Sequence[Engagement]
) -> int:
    """Record recipients' engagement (delivered, opened, clicked, bounced, ...)."""
    if not items:
        return 0
    campaign = _campaign(conn, workspace_id, campaign_id)
    channels = _variation_channels(campaign, {e.variation_id for e in items})
    for item in items:
        channel = channels[item.variation_id]
        if isinstance(campaign.definition.messages[item.variation_id], Control):
            raise RecordError(f"variation '{item.variation_id}' is a control group: no engagement")
        if item.kind not in kinds_for(channel):
            allowed = ", ".join(sorted(kinds_for(channel)))
            raise RecordError(f"{channel} records no '{item.kind}' (it records {allowed})")
    _check_users(conn, workspace_id, (e.user_id for e in items))
    days = _days(conn, workspace_id)
    counted: dict[_Key, list[int]] = {}
    rows = []
    for item in items:
        channel = channels[item.variation_id]
        rows.append(
            {
                "workspace_id": workspace_id,
                "campaign_id": campaign.id,
                "variation_id": item.variation_id,
                "channel": channel,
                "user_id": item.user_id,
                "kind": item.kind,
                "time_ms": item.time_ms,
            }
        )
        key = (item.variation_id, channel, days.day_of(item.time_ms), item.kind)
        counted.setdefault(key, []).append(item.user_id)
    conn.execute(insert(campaign_engagements), rows)
    _aggregate(conn, campaign.id, counted)
    return len(items)


def record_activity(conn: Connection, workspace_id: int, items: Sequence[Activity]) -> int:
    """Record session starts and app upgrades (conversion sources)."""
    if not items:
        return 0
    for item in items:
        if item.kind not in ACTIVITY_KINDS:
            raise RecordError(f"activity kind must be one of {', '.join(ACTIVITY_KINDS)}")
    _check_users(conn, workspace_id, (a.user_id for a in items))
    conn.execute(
        insert(user_activity),
        [
            {
                "workspace_id": workspace_id,
                "user_id": a.user_id,
                "kind": a.kind,
                "app_id": a.app_id,
                "time_ms": a.time_ms,
            }
            for a in items
        ],
    )
    return len(items)
