"""`heron workspaces set-time-zone NAME ZONE`: change a workspace's zone and rebuild its counts."""

from __future__ import annotations

import click

from heron.admin import workspaces as ws_admin
from heron.analytics.rebuild import UnknownTimeZone, set_time_zone
from heron.config import DEFAULT_DATABASE_URL
from heron.store import migrate
from heron.store.engine import make_engine

__all__ = ["set_time_zone_command"]


@click.command("set-time-zone")
@click.argument("name")
@click.argument("zone")
@click.option(
    "--database",
    "database",
    envvar="HERON_DATABASE_URL",
    default=DEFAULT_DATABASE_URL,
    show_default=True,
    help="SQLAlchemy database URL (env HERON_DATABASE_URL).",
)
def set_time_zone_command(name: str, zone: str, database: str) -> None:
    """Set workspace NAME's IANA time ZONE and rebuild its hourly rollups and daily KPIs.

    Always rebuilds, even when ZONE is already the workspace's: running it again repairs
    counts that requests in flight during a change added in the old zone. Servers keep
    running (ingest waits during the rebuild) and use the new zone within 2 seconds.
    """
    engine = make_engine(database)
    try:
        migrate.upgrade(engine)
        try:
            workspace = ws_admin.get_workspace(engine, name)
            change = set_time_zone(engine, workspace.id, zone, rebuild_unchanged=True)
        except (ws_admin.AdminError, UnknownTimeZone) as exc:
            raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()
    rebuilt = change.rebuilt
    assert rebuilt is not None
    click.echo(f"{change.name}\t{change.time_zone}")
    click.echo(
        f"time zone {change.previous_time_zone} -> {change.time_zone}; rebuilt"
        f" {rebuilt.event_rows:,} event and {rebuilt.purchase_rows:,} purchase rollup rows"
        f" in {change.seconds:.1f} s",
        err=True,
    )
