"""Conversion attribution, as Braze counts it, computed when a series is read.

A recipient converts on behaviour N when they perform it at `t` with
`received <= t <= received + window` (both ends included, to the millisecond), where
`received` is their most recent receipt of the campaign at or before `t`. Each receipt converts
at most once per behaviour, at its first qualifying action; control-group users are not
recipients. Revenue is every purchase a recipient makes within the primary (first) behaviour's
window after their most recent receipt.

The sources: custom events and purchases through `heron.users.history` (indexed by user), the
campaign's own email opens and clicks from the engagement store, and session starts / app
upgrades from `user_activity` (`heron.campaigns.recording.record_activity`). Only the
campaign's receipts in `[start - longest window, end + longest window]` and those recipients'
actions are read: never all raw events of the workspace.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import and_, select
from sqlalchemy.engine import Connection

from heron.campaigns.definition import (
    Behavior,
    ClicksEmail,
    MakesAnyPurchase,
    MakesSpecificPurchase,
    OpensEmail,
    PerformsCustomEvent,
    StartsSession,
    UpgradesApp,
)
from heron.campaigns.store import Campaign
from heron.store.schema import (
    apps,
    campaign_engagements,
    campaign_receipts,
    custom_events,
    products,
    user_activity,
)
from heron.users.history import event_times, purchase_times

__all__ = ["Attribution", "attribute"]

_CHUNK = 500


@dataclass
class Attribution:
    """Conversions per behaviour (by day of conversion and of send), revenue per day."""

    by_day: list[dict[int, int]] = field(default_factory=list)
    by_send_day: list[dict[int, int]] = field(default_factory=list)
    by_variation_day: list[dict[tuple[str, int], int]] = field(default_factory=list)
    revenue: dict[int, float] = field(default_factory=dict)
    revenue_by_variation: dict[tuple[str, int], float] = field(default_factory=dict)


_Receipts = dict[int, tuple[list[int], list[str]]]  # user -> (times ascending, variations)


def _receipts(conn: Connection, campaign: Campaign, lo_ms: int, hi_ms: int) -> _Receipts:
    """Per recipient, the campaign's receipts in `[lo_ms, hi_ms)`, oldest first."""
    query = (
        select(
            campaign_receipts.c.user_id,
            campaign_receipts.c.time_ms,
            campaign_receipts.c.variation_id,
        )
        .where(
            campaign_receipts.c.campaign_id == campaign.id,
            campaign_receipts.c.time_ms >= lo_ms,
            campaign_receipts.c.time_ms < hi_ms,
        )
        .order_by(campaign_receipts.c.user_id, campaign_receipts.c.time_ms, campaign_receipts.c.id)
    )
    found: _Receipts = {}
    for user_id, time_ms, variation_id in conn.execute(query):
        times, variations = found.setdefault(int(user_id), ([], []))
        times.append(int(time_ms))
        variations.append(str(variation_id))
    return found


def _chunks(user_ids: Iterable[int]) -> Iterable[list[int]]:
    """Ids in IN-list sized chunks."""
    ordered = sorted(user_ids)
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]


def _app_keys(conn: Connection, workspace_id: int, api_ids: list[str]) -> list[int]:
    """apps.id of the workspace's apps among these API identifiers (unknown ones match nothing)."""
    query = select(apps.c.id).where(apps.c.workspace_id == workspace_id, apps.c.api_id.in_(api_ids))
    return [int(x) for x in conn.execute(query).scalars()]


def _activity(
    conn: Connection,
    workspace_id: int,
    user_ids: Iterable[int],
    kind: str,
    app_ids: list[str] | None,
    lo_ms: int,
    hi_ms: int,
) -> list[tuple[int, int]]:
    """(user, time) of session starts / app upgrades (optionally in some apps)."""
    conditions = [
        user_activity.c.workspace_id == workspace_id,
        user_activity.c.kind == kind,
        user_activity.c.time_ms >= lo_ms,
        user_activity.c.time_ms < hi_ms,
    ]
    if app_ids is not None:
        conditions.append(user_activity.c.app_id.in_(_app_keys(conn, workspace_id, app_ids)))
    rows: list[tuple[int, int]] = []
    for chunk in _chunks(user_ids):
        query = select(user_activity.c.user_id, user_activity.c.time_ms).where(
            and_(user_activity.c.user_id.in_(chunk), *conditions)
        )
        rows.extend((int(u), int(t)) for u, t in conn.execute(query))
    return rows


def _email(
    conn: Connection, campaign: Campaign, kind: str, lo_ms: int, hi_ms: int
) -> list[tuple[int, int]]:
    """(user, time) of the campaign's email opens or clicks."""
    query = select(campaign_engagements.c.user_id, campaign_engagements.c.time_ms).where(
        campaign_engagements.c.campaign_id == campaign.id,
        campaign_engagements.c.kind == kind,
        campaign_engagements.c.channel == "email",
        campaign_engagements.c.time_ms >= lo_ms,
        campaign_engagements.c.time_ms < hi_ms,
    )
    return [(int(u), int(t)) for u, t in conn.execute(query)]


def _named_id(conn: Connection, table: object, workspace_id: int, name: str) -> int | None:
    """The id of a custom event or product by name in a workspace."""
    columns = table.c  # type: ignore[attr-defined]
    query = select(columns.id).where(columns.workspace_id == workspace_id, columns.name == name)
    found = conn.execute(query).scalar()
    return None if found is None else int(found)


def _actions(
    conn: Connection,
    campaign: Campaign,
    behavior: Behavior,
    user_ids: list[int],
    lo_ms: int,
    hi_ms: int,
) -> list[tuple[int, int]]:
    """(user, time) of every action that performs a behaviour, for these users."""
    ws = campaign.workspace_id
    if isinstance(behavior, ClicksEmail):
        return _email(conn, campaign, "clicked", lo_ms, hi_ms)
    if isinstance(behavior, OpensEmail):
        return _email(conn, campaign, "opened", lo_ms, hi_ms)
    if isinstance(behavior, MakesAnyPurchase | MakesSpecificPurchase):
        product_ids = None
        if isinstance(behavior, MakesSpecificPurchase):
            product = _named_id(conn, products, ws, behavior.product)
            if product is None:
                return []
            product_ids = [product]
        rows = purchase_times(
            conn, ws, user_ids, product_ids=product_ids, since_ms=lo_ms, until_ms=hi_ms
        )
        return [(row[0], row[2]) for row in rows]
    if isinstance(behavior, PerformsCustomEvent):
        event = _named_id(conn, custom_events, ws, behavior.custom_event_name)
        if event is None:
            return []
        rows3 = event_times(conn, ws, user_ids, event_ids=[event], since_ms=lo_ms, until_ms=hi_ms)
        return [(u, t) for u, _, t in rows3]
    kind = "session_start" if isinstance(behavior, StartsSession) else "app_upgrade"
    assert isinstance(behavior, StartsSession | UpgradesApp)
    return _activity(conn, ws, user_ids, kind, behavior.app_ids, lo_ms, hi_ms)


def _latest(receipts: tuple[list[int], list[str]], t: int) -> int:
    """Index of the most recent receipt at or before `t`, or -1."""
    return bisect.bisect_right(receipts[0], t) - 1


def attribute(
    conn: Connection,
    campaign: Campaign,
    lo_ms: int,
    hi_ms: int,
    day_of: Callable[[int], int],
) -> Attribution:
    """Conversions and revenue of the days in `[lo_ms, hi_ms)` (and of the sends in it)."""
    behaviors = campaign.definition.conversion_behaviors
    result = Attribution()
    if not behaviors:
        return result
    longest = max(b.window for b in behaviors) * 1000
    # receipts after `hi_ms` too: an action there belongs to them, not to an older receipt
    receipts = _receipts(conn, campaign, lo_ms - longest, hi_ms + longest + 1)
    user_ids = sorted(receipts)
    for behavior in behaviors:
        window = behavior.window * 1000
        by_day: dict[int, int] = defaultdict(int)
        by_send_day: dict[int, int] = defaultdict(int)
        by_variation: dict[tuple[str, int], int] = defaultdict(int)
        converted: set[tuple[int, int]] = set()
        actions = _actions(conn, campaign, behavior, user_ids, lo_ms - longest, hi_ms + longest + 1)
        for user_id, t in sorted(actions):
            mine = receipts.get(user_id)
            if mine is None:
                continue
            index = _latest(mine, t)
            if index < 0 or t > mine[0][index] + window or (user_id, index) in converted:
                continue
            converted.add((user_id, index))
            received = mine[0][index]
            if lo_ms <= t < hi_ms:
                day = day_of(t)
                by_day[day] += 1
                by_variation[(mine[1][index], day)] += 1
            if lo_ms <= received < hi_ms:
                by_send_day[day_of(received)] += 1
        result.by_day.append(dict(by_day))
        result.by_send_day.append(dict(by_send_day))
        result.by_variation_day.append(dict(by_variation))
    primary = behaviors[0].window * 1000
    for row in purchase_times(
        conn, campaign.workspace_id, user_ids, since_ms=lo_ms, until_ms=hi_ms
    ):
        user_id, t, price, quantity = row[0], row[2], row[3], row[4]
        mine = receipts[user_id]
        index = _latest(mine, t)
        if index < 0 or t > mine[0][index] + primary:
            continue
        day = day_of(t)
        amount = price * quantity
        result.revenue[day] = result.revenue.get(day, 0.0) + amount
        key = (mine[1][index], day)
        result.revenue_by_variation[key] = result.revenue_by_variation.get(key, 0.0) + amount
    return result
