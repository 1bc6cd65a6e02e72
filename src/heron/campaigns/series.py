"""`/campaigns/data_series` points: daily aggregates per variation, plus attributed conversions.

Each point is one calendar day of the workspace's zone (`heron.analytics.series.points`). The
per-variation stats and `unique_recipients` come from the daily aggregates written by
`heron.campaigns.recording`; `conversions*` and `revenue` from `heron.campaigns.conversions`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from heron.analytics.kpi import LocalDays
from heron.analytics.series import points
from heron.campaigns.conversions import Attribution, attribute
from heron.campaigns.definition import Control, InAppMessage, channel_of
from heron.campaigns.stats import ENROLLED, RECIPIENTS, SERIES_KEYS, STATS
from heron.campaigns.store import Campaign
from heron.store.schema import campaign_daily

__all__ = ["campaign_series"]

_EPOCH = date(1970, 1, 1)
_Aggregates = dict[tuple[str, str, int, str], tuple[int, int]]


def _aggregates(conn: Connection, campaign: Campaign, first: int, last: int) -> _Aggregates:
    """(variation, channel, day, kind) -> (total, uniques) for days `first..last`."""
    query = select(
        campaign_daily.c.variation_id,
        campaign_daily.c.channel,
        campaign_daily.c.day,
        campaign_daily.c.metric,
        campaign_daily.c.total,
        campaign_daily.c.uniques,
    ).where(
        campaign_daily.c.campaign_id == campaign.id,
        campaign_daily.c.day >= first,
        campaign_daily.c.day <= last,
    )
    return {
        (str(v), str(c), int(d), str(m)): (int(t), int(u))
        for v, c, d, m, t, u in conn.execute(query)
    }


def _conversion_fields(counts: list[dict[Any, int]], key: Any, suffix: str = "") -> dict[str, int]:
    """`conversions`, `conversions1`.. (one per behaviour) for one day or variation-day."""
    return {
        f"conversions{'' if n == 0 else n}{suffix}": per_behavior.get(key, 0)
        for n, per_behavior in enumerate(counts)
    }


def _variation(
    campaign: Campaign,
    variation_id: str,
    day: int,
    aggregates: Mapping[tuple[str, str, int, str], tuple[int, int]],
    attribution: Attribution,
) -> dict[str, Any]:
    """One variation's stats for one day, with the field names of its channel."""
    variation = campaign.definition.messages[variation_id]
    channel = channel_of(variation)
    in_app = channel == "in-app_message"
    label: dict[str, Any] = (
        {"variation_name": variation.name} if in_app else {"variation_api_id": variation_id}
    )
    if isinstance(variation, Control):
        return {
            **label,
            "enrolled": aggregates.get((variation_id, channel, day, ENROLLED), (0, 0))[0],
        }
    entry = dict(label)
    for stat in STATS[channel]:
        total, uniques = aggregates.get((variation_id, channel, day, stat.kind), (0, 0))
        entry[stat.field] = uniques if stat.unique else total
    if isinstance(variation, InAppMessage):
        entry["revenue"] = round(attribution.revenue_by_variation.get((variation_id, day), 0.0), 2)
        entry.update(_conversion_fields(attribution.by_variation_day, (variation_id, day)))
    return entry


def campaign_series(
    conn: Connection, campaign: Campaign, length: int, ending_ms: int, time_zone: str
) -> list[dict[str, Any]]:
    """The `data` array: `length` daily points ending with the day that holds `ending_ms`."""
    span = points("day", length, ending_ms, time_zone)
    days = [(date.fromisoformat(label) - _EPOCH).days for label in span.labels]
    aggregates = _aggregates(conn, campaign, days[0], days[-1])
    local = LocalDays(time_zone)
    attribution = attribute(conn, campaign, span.starts[0] * 1000, span.end * 1000, local.day_of)
    by_channel: dict[str, list[str]] = {}
    for variation_id, variation in campaign.definition.messages.items():
        by_channel.setdefault(SERIES_KEYS[channel_of(variation)], []).append(variation_id)
    data = []
    for label, day in zip(span.labels, days, strict=True):
        point: dict[str, Any] = {
            "time": label,
            "unique_recipients": aggregates.get(("", "", day, RECIPIENTS), (0, 0))[1],
        }
        point.update(_conversion_fields(attribution.by_day, day))
        point.update(_conversion_fields(attribution.by_send_day, day, "_by_send_time"))
        point["revenue"] = round(attribution.revenue.get(day, 0.0), 2)
        point["messages"] = {
            key: [_variation(campaign, v, day, aggregates, attribution) for v in variation_ids]
            for key, variation_ids in by_channel.items()
        }
        data.append(point)
    return data
