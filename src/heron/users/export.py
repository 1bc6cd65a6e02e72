"""`/users/export/ids`: whole profiles by identifier, in Braze's user export object.

Braze includes "the least data possible": a field that is null, false or empty is left out,
and `fields_to_export` (default: every field) narrows the object further. `custom_events` and
`purchases` are computed from the stored raw rows (heron.users.history): one entry per event
name / product the user performed in the last 90 days, with the profile's lifetime `count`,
`first` and `last` (a purchase's `count` counts items: quantity X is X purchases).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.engine import Connection

from heron.ingest.attribute_values import format_epoch_ms
from heron.store.driver import unindexed
from heron.store.schema import apps, products, users
from heron.users import history, lookup, profiles
from heron.users.parse import Target

RECENT_MS = 90 * 86_400_000
# Every field Braze documents; those heron keeps no data for (sessions, devices, attribution,
# messaging) are accepted and always left out, as an empty field is.
EXPORT_FIELDS: tuple[str, ...] = (
    "apps",
    "attributed_ad",
    "attributed_adgroup",
    "attributed_campaign",
    "attributed_source",
    "braze_id",
    "campaigns_received",
    "canvases_received",
    "cards_clicked",
    "country",
    "created_at",
    "custom_attributes",
    "custom_events",
    "devices",
    "dob",
    "email",
    "email_subscribe",
    "external_id",
    "first_name",
    "gender",
    "home_city",
    "language",
    "last_coordinates",
    "last_name",
    "phone",
    "purchases",
    "push_subscribe",
    "push_tokens",
    "random_bucket",
    "time_zone",
    "total_revenue",
    "uninstalled_at",
    "user_aliases",
)
# Profile fields exported as stored, in the order of Braze's export object.
_STANDARD = (
    "first_name",
    "last_name",
    "email",
    "dob",
    "home_city",
    "country",
    "phone",
    "language",
    "time_zone",
)


def find(conn: Connection, workspace_id: int, target: Target) -> list[int]:
    """Every profile an export identifier names (an email or phone may name several)."""
    if target.ref.kind in ("email", "phone"):
        return [m.id for m in lookup.contact_matches(conn, workspace_id, target.ref)]
    found = lookup.resolve(conn, workspace_id, target)
    return [] if found is None else [found]


def random_bucket(braze_id: str) -> int:
    """A stable number in 0..9999 per profile (Braze's random bucket), from its braze_id."""
    try:
        return int(braze_id[:8], 16) % 10_000
    except ValueError:
        return sum(braze_id.encode()) % 10_000


def export_users(
    conn: Connection,
    workspace_id: int,
    user_ids: Sequence[int],
    fields: frozenset[str],
    now_ms: int,
) -> list[dict[str, Any]]:
    """Braze user export objects for the profiles, in the given order, with only `fields`."""
    if not user_ids:
        return []
    since = now_ms - RECENT_MS
    events: dict[int, list[dict[str, Any]]] = {}
    if "custom_events" in fields:
        for s in sorted(
            history.event_summaries(conn, workspace_id, user_ids), key=lambda s: s.name
        ):
            if s.last_ms >= since:
                events.setdefault(s.user_id, []).append(_summary(s.name, s))
    bought: dict[int, list[dict[str, Any]]] = {}
    revenue: dict[int, float] = {}
    if "purchases" in fields or "total_revenue" in fields:
        items, revenue = _purchase_items(conn, workspace_id, user_ids)
        for uid, name, first, last, quantity in items:
            if last >= since:
                entry = {
                    "name": name,
                    "first": format_epoch_ms(first),
                    "last": format_epoch_ms(last),
                    "count": quantity,
                }
                bought.setdefault(uid, []).append(entry)
    aliases = profiles.aliases_of(conn, user_ids) if "user_aliases" in fields else {}
    app_names = _app_names(conn, workspace_id) if "push_tokens" in fields else {}
    rows = {
        int(row.id): row
        for row in conn.execute(
            select(
                users.c.id,
                users.c.braze_id,
                users.c.external_id,
                users.c.created_at_ms,
                users.c.standard,
                users.c.custom,
            ).where(
                unindexed(users.c.workspace_id) == workspace_id,
                users.c.id.in_(sorted(set(user_ids))),
            )
        )
    }
    exported = []
    for uid in user_ids:
        row = rows.get(uid)
        if row is None:
            continue
        standard = msgspec.json.decode(row.standard)
        user: dict[str, Any] = {
            "created_at": format_epoch_ms(int(row.created_at_ms)),
            "external_id": row.external_id,
            "user_aliases": [
                {"alias_name": name, "alias_label": label} for name, label in aliases.get(uid, [])
            ],
            "braze_id": row.braze_id,
            "random_bucket": random_bucket(row.braze_id),
        }
        for name in _STANDARD:
            user[name] = standard.get(name)
        location = standard.get("current_location")
        if isinstance(location, dict):
            user["last_coordinates"] = [location.get("longitude"), location.get("latitude")]
        user["gender"] = standard.get("gender")
        user["total_revenue"] = revenue.get(uid)
        user["push_subscribe"] = standard.get("push_subscribe")
        user["email_subscribe"] = standard.get("email_subscribe")
        user["custom_attributes"] = msgspec.json.decode(row.custom)
        user["custom_events"] = events.get(uid)
        user["purchases"] = bought.get(uid)
        user["push_tokens"] = _push_tokens(standard.get("push_tokens"), app_names)
        exported.append(
            {k: v for k, v in user.items() if k in fields and v is not None and v != [] and v != {}}
        )
    return exported


def _purchase_items(
    conn: Connection, workspace_id: int, user_ids: Sequence[int]
) -> tuple[list[tuple[int, str, int, int, int]], dict[int, float]]:
    """(user, product name, first, last, items bought) per user and product; revenue per user."""
    spans: dict[tuple[int, int], list[int]] = {}
    revenue: dict[int, float] = {}
    for uid, product, time_ms, price, quantity, _currency in history.purchase_times(
        conn, workspace_id, user_ids
    ):
        revenue[uid] = revenue.get(uid, 0.0) + price * quantity
        span = spans.get((uid, product))
        if span is None:
            spans[(uid, product)] = [time_ms, time_ms, quantity]
        else:
            span[0], span[1], span[2] = (
                min(span[0], time_ms),
                max(span[1], time_ms),
                span[2] + quantity,
            )
    wanted = sorted({product for _uid, product in spans})
    names = {
        int(pid): str(name)
        for pid, name in conn.execute(
            select(products.c.id, products.c.name).where(products.c.id.in_(wanted))
        )
    }
    items = [
        (uid, names[product], first, last, quantity)
        for (uid, product), (first, last, quantity) in spans.items()
    ]
    return sorted(items, key=lambda item: (item[0], item[1])), revenue


def _summary(name: str, summary: history.EventSummary) -> dict[str, Any]:
    """One `custom_events` entry."""
    return {
        "name": name,
        "first": format_epoch_ms(summary.first_ms),
        "last": format_epoch_ms(summary.last_ms),
        "count": summary.count,
    }


def _app_names(conn: Connection, workspace_id: int) -> dict[str, str]:
    """app_id (API identifier) -> app name, for one workspace."""
    rows = conn.execute(
        select(apps.c.api_id, apps.c.name).where(apps.c.workspace_id == workspace_id)
    )
    return {api_id: name for api_id, name in rows}


def _push_tokens(tokens: Any, app_names: dict[str, str]) -> list[dict[str, Any]]:
    """Stored push tokens as Braze exports them (`app` is the app's name)."""
    exported = []
    for token in tokens if isinstance(tokens, list) else []:
        if not isinstance(token, dict):
            continue
        entry = {
            "app": app_names.get(token.get("app_id", ""), token.get("app_id")),
            "token": token.get("token"),
        }
        if token.get("device_id") is not None:
            entry["device_id"] = token["device_id"]
        exported.append(entry)
    return exported
