"""Braze's rate-limit buckets (spec §3) and which permission draws on which bucket.

A bucket is one budget per workspace: every endpoint mapped to it shares the count. Endpoints
are mapped by the API-key permission they require (the name `authenticate` is called with), so
this module is the single table to edit when an endpoint is added.

Choices where Braze's documentation drifts or is silent:
- `custom_data` (1,000/hour): the newer per-endpoint include text groups `/custom_attributes`,
  `/events`, `/events/list` and `/purchases/product_list`; the central `api_limits.md` table
  shares `/events/list` only with `/purchases/product_list` and leaves the other two out. heron
  follows the newer per-endpoint text (one 4-endpoint bucket).
- `/purchases/quantity_series` and `/purchases/revenue_series`: their pages embed the product
  list's 1,000/hour text, `api_limits.md` lists neither; heron puts them in `default`.
- `/users/export/ids`: 250/minute (workspaces onboarded on or after 2024-08-22). The older
  2,500/minute and the 40/second variant for requests with `fields_to_export` are not modelled
  (the bucket is chosen before the body is read); an operator can override the bucket per
  workspace.
- `/users/external_ids/rename` and `/users/external_ids/remove`: 1,000/minute each, in two
  buckets (Braze's table lists them as separate rows and does not call them shared).
- heron's own management API (`heron.*` permissions) is not Braze's: it gets its own generous
  `heron_management` bucket (10,000/minute) so that operators' tooling never eats into, nor is
  starved by, the Braze budgets.
"""

from __future__ import annotations

from dataclasses import dataclass

from heron.permissions import ALL_PERMISSIONS

__all__ = [
    "BUCKETS",
    "DEFAULT_BUCKET",
    "MANAGEMENT_BUCKET",
    "PERMISSION_BUCKETS",
    "Bucket",
    "bucket_for",
]


@dataclass(frozen=True, slots=True)
class Bucket:
    """One shared budget: `limit` requests per `period_seconds`, per workspace."""

    name: str
    limit: int
    period_seconds: int
    description: str


DEFAULT_BUCKET = "default"
MANAGEMENT_BUCKET = "heron_management"

BUCKETS: dict[str, Bucket] = {
    b.name: b
    for b in (
        Bucket("users_track", 3_000, 3, "/users/track"),
        Bucket(
            "custom_data",
            1_000,
            3_600,
            "/custom_attributes, /events, /events/list, /purchases/product_list (shared)",
        ),
        Bucket("users_export_ids", 250, 60, "/users/export/ids"),
        Bucket(
            "users_identity",
            20_000,
            60,
            "/users/delete, /users/alias/new, /users/alias/update, /users/identify,"
            " /users/merge (shared)",
        ),
        Bucket("users_external_ids_rename", 1_000, 60, "/users/external_ids/rename"),
        Bucket("users_external_ids_remove", 1_000, 60, "/users/external_ids/remove"),
        Bucket("campaigns_data_series", 50_000, 60, "/campaigns/data_series"),
        Bucket(DEFAULT_BUCKET, 250_000, 3_600, "every other Braze endpoint (shared)"),
        Bucket(MANAGEMENT_BUCKET, 10_000, 60, "heron's management API, /heron/v1/... (shared)"),
    )
}

# Permission -> bucket for every permission not in `default`; see `bucket_for`.
_SPECIAL: dict[str, str] = {
    "users.track": "users_track",
    "custom_attributes.get": "custom_data",
    "events.get": "custom_data",
    "events.list": "custom_data",
    "purchases.product_list": "custom_data",
    "users.export.ids": "users_export_ids",
    "users.delete": "users_identity",
    "users.alias.new": "users_identity",
    "users.alias.update": "users_identity",
    "users.identify": "users_identity",
    "users.merge": "users_identity",
    "users.external_ids.rename": "users_external_ids_rename",
    "users.external_ids.remove": "users_external_ids_remove",
    "campaigns.data_series": "campaigns_data_series",
}


def _default_for(permission: str) -> str:
    """The bucket of a permission with no entry of its own."""
    return MANAGEMENT_BUCKET if permission.startswith("heron.") else DEFAULT_BUCKET


# The complete table, one entry per known permission (read on every request).
PERMISSION_BUCKETS: dict[str, str] = {
    permission: _SPECIAL.get(permission, _default_for(permission)) for permission in ALL_PERMISSIONS
}


def bucket_for(permission: str) -> str:
    """The bucket an endpoint requiring `permission` draws on."""
    found = PERMISSION_BUCKETS.get(permission)
    return found if found is not None else _default_for(permission)
