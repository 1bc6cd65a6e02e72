"""Braze's REST API key permission names, as keys carry them and endpoints require them."""

from __future__ import annotations

ALL_PERMISSIONS: tuple[str, ...] = (
    "users.track",
    "users.delete",
    "users.alias.new",
    "users.alias.update",
    "users.identify",
    "users.merge",
    "users.export.ids",
    "users.export.segment",
    "users.export.global_control_group",
    "users.external_ids.rename",
    "users.external_ids.remove",
    "events.get",
    "events.list",
    "events.data_series",
    "custom_attributes.get",
    "campaigns.list",
    "campaigns.details",
    "campaigns.data_series",
    "segments.list",
    "segments.details",
    "segments.data_series",
    "purchases.product_list",
    "purchases.quantity_series",
    "purchases.revenue_series",
    "kpi.dau.data_series",
    "kpi.mau.data_series",
    "kpi.new_users.data_series",
    "kpi.uninstalls.data_series",
    "sessions.data_series",
    # heron's own management API (not Braze names): catalog governance, workspace settings
    "heron.catalog.manage",
    "heron.segments.manage",
    "heron.workspace.manage",
    "heron.campaigns.manage",
)
_KNOWN = frozenset(ALL_PERMISSIONS)


def parse_permissions(spec: str) -> list[str]:
    """Parse `all` or a comma-separated list of permission names; raise ValueError on unknowns."""
    if spec.strip().lower() == "all":
        return list(ALL_PERMISSIONS)
    names = [name.strip() for name in spec.split(",") if name.strip()]
    if not names:
        raise ValueError("no permissions given (use 'all' or a comma-separated list)")
    unknown = sorted(set(names) - _KNOWN)
    if unknown:
        raise ValueError(f"unknown permission(s): {', '.join(unknown)}")
    return sorted(set(names), key=ALL_PERMISSIONS.index)
