"""The custom-data catalog: Braze's exports and the governance Braze users do in the dashboard.

- `exports`: `GET /events`, `/custom_attributes` (50 per page, keyset cursors, Braze's `Link`
  header; see `cursor`), `/events/list` (250 names per page) and `/purchases/product_list`
  (100 names per page).
- `manage`: heron's management API under `/heron/v1/` (`heron.catalog.manage`): pre-create,
  describe and tag, blocklist / unblock, trash / restore; `cli` is the same for operators.
- `service`: the governance rules (statuses in `kinds`); `purge`: what purging removes and the
  periodic task; `blocklist`: dropping blocklisted names in `/users/track` before storage.
- `docs`: the OpenAPI entries. docs/catalog.md describes the behaviour and every choice where
  Braze's documentation is silent.

Statuses: `Active` -> blocklist -> `Blocklisted` -> (after 7 days) trash -> `Trashed` -> (after
7 more days) purged; unblock and restore step back. Products can be blocklisted, not trashed.
"""

from __future__ import annotations

from starlette.applications import Starlette

from heron.catalog import docs as _docs  # registers the OpenAPI entries
from heron.catalog.blocklist import drop_blocklisted, drop_list_cache
from heron.catalog.exports import routes as _export_routes
from heron.catalog.manage import routes as _manage_routes
from heron.catalog.purge import CatalogMaintenance

__all__ = ["CatalogMaintenance", "drop_blocklisted", "routes", "start_maintenance"]

routes = [*_export_routes, *_manage_routes]
del _docs


def start_maintenance(app: Starlette) -> CatalogMaintenance:
    """Start the periodic purge for an app (call in its lifespan; `await .stop()` at the end)."""
    maintenance = CatalogMaintenance(app.state.engine, drop_list_cache(app).invalidate)
    maintenance.start()
    return maintenance
