"""The `heron` command: run the server and manage workspaces, apps and API keys."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
from sqlalchemy.engine import Engine, make_url

from heron.admin import apps as app_admin
from heron.admin import keys as key_admin
from heron.admin import workspaces as ws_admin
from heron.admin.settings_cli import set_time_zone_command
from heron.campaigns.cli import campaigns
from heron.catalog.cli import catalog
from heron.config import DEFAULT_DATABASE_URL, Settings
from heron.permissions import ALL_PERMISSIONS, parse_permissions
from heron.ratelimit.cli import rate_limit
from heron.segments.cli import segments
from heron.store import migrate
from heron.store.engine import make_engine, normalize_url
from heron.tools.cli import register as register_tools

F = TypeVar("F", bound=Callable[..., Any])

database_option = click.option(
    "--database",
    "database",
    envvar="HERON_DATABASE_URL",
    default=DEFAULT_DATABASE_URL,
    show_default=True,
    help="SQLAlchemy database URL (env HERON_DATABASE_URL).",
)
workspace_option = click.option(
    "--workspace", "workspace", default=migrate.DEFAULT_WORKSPACE, show_default=True
)


def _engine(database: str) -> Engine:
    """An engine on an up-to-date schema (management commands migrate an empty database)."""
    engine = make_engine(database)
    migrate.upgrade(engine)
    return engine


def _fail(exc: Exception) -> None:
    """Show an operator error and exit non-zero."""
    raise click.ClickException(str(exc))


def _workspace_id(engine: Engine, name: str) -> int:
    """Resolve `--workspace` to an id."""
    try:
        return ws_admin.get_workspace(engine, name).id
    except ws_admin.AdminError as exc:
        _fail(exc)
        raise


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="heron")
def main() -> None:
    """heron: a self-hosted, Braze-API-compatible customer-engagement data platform."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@database_option
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--log-level", default="warning", show_default=True)
@click.option(
    "--new-key",
    is_flag=True,
    help="Create an all-permissions key in the default workspace and print it before serving.",
)
def serve(host: str, port: int, database: str, workers: int, log_level: str, new_key: bool) -> None:
    """Run the API server (brings an empty or old database up to date first)."""
    import uvicorn

    from heron.workers import WorkerPool, reuse_port_supported

    engine = make_engine(database)
    migrate.upgrade(engine)
    if new_key:
        secret, _ = key_admin.create_key(
            engine, migrate.ensure_default_workspace(engine), "quickstart", ALL_PERMISSIONS
        )
        click.echo(f"REST API key (all permissions, workspace 'default'): {secret}")
    engine.dispose()
    click.echo(
        f"heron serving http://{host}:{port} on {make_url(database).render_as_string()}", err=True
    )
    os.environ["HERON_DATABASE_URL"] = normalize_url(database)
    Settings.from_env()  # fail fast on bad HERON_* settings, before forking workers
    config: dict[str, Any] = {
        "app": "heron.app:app_from_env",
        "factory": True,
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": False,
        "server_header": False,
    }
    if workers > 1 and reuse_port_supported():
        try:
            WorkerPool(config, host, port, workers).run()  # one accept queue per worker
        except OSError as exc:  # the port is taken or the address is not ours
            raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from None
    else:
        uvicorn.run(**config, workers=workers)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@database_option
def db_upgrade(database: str) -> None:
    """Apply pending schema migrations."""
    engine = make_engine(database)
    migrate.upgrade(engine)
    click.echo("database is up to date", err=True)


@main.group()
def workspaces() -> None:
    """Workspaces (data isolation units)."""


@workspaces.command("create")
@click.argument("name")
@click.option("--time-zone", default="UTC", show_default=True, help="IANA zone for day buckets.")
@database_option
def workspaces_create(name: str, time_zone: str, database: str) -> None:
    """Create a workspace; prints its name."""
    try:
        created = ws_admin.create_workspace(_engine(database), name, time_zone)
    except ws_admin.AdminError as exc:
        _fail(exc)
        return
    click.echo(created.name)


@workspaces.command("list")
@database_option
def workspaces_list(database: str) -> None:
    """List workspaces (id, name, time zone)."""
    for ws in ws_admin.list_workspaces(_engine(database)):
        click.echo(f"{ws.id}\t{ws.name}\t{ws.time_zone}")


workspaces.add_command(rate_limit)  # heron workspaces rate-limit set|list|reset
workspaces.add_command(set_time_zone_command)  # heron workspaces set-time-zone NAME ZONE


@main.group()
def apps() -> None:
    """Apps of a workspace."""


@apps.command("create")
@click.argument("name")
@workspace_option
@database_option
def apps_create(name: str, workspace: str, database: str) -> None:
    """Create an app; prints its app_id alone."""
    engine = _engine(database)
    try:
        app = app_admin.create_app(engine, _workspace_id(engine, workspace), name)
    except ws_admin.AdminError as exc:
        _fail(exc)
        return
    click.echo(app.api_id)


@apps.command("list")
@workspace_option
@database_option
def apps_list(workspace: str, database: str) -> None:
    """List a workspace's apps (app_id, name)."""
    engine = _engine(database)
    for app in app_admin.list_apps(engine, _workspace_id(engine, workspace)):
        click.echo(f"{app.api_id}\t{app.name}")


@main.group()
def keys() -> None:
    """REST API keys."""


@keys.command("create")
@click.option("--name", required=True, help="A label for the key.")
@workspace_option
@click.option(
    "--permissions",
    default="all",
    show_default=True,
    help="'all' or a comma-separated list of Braze permission names (e.g. users.track).",
)
@click.option("--allow-ip", "allow_ip", multiple=True, help="Allowed IP or CIDR (repeatable).")
@database_option
def keys_create(
    name: str, workspace: str, permissions: str, allow_ip: tuple[str, ...], database: str
) -> None:
    """Create a REST API key; prints the key alone (it is shown only this once)."""
    try:
        names = parse_permissions(permissions)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--permissions") from None
    engine = _engine(database)
    try:
        secret, _key = key_admin.create_key(
            engine, _workspace_id(engine, workspace), name, names, allow_ip
        )
    except ws_admin.AdminError as exc:
        _fail(exc)
        return
    click.echo(secret)


@keys.command("list")
@click.option("--workspace", "workspace", default=None, help="Only this workspace's keys.")
@database_option
def keys_list(workspace: str | None, database: str) -> None:
    """List keys: id, identifier, name, workspace, state, last seen, permissions."""
    engine = _engine(database)
    ws_id = _workspace_id(engine, workspace) if workspace else None
    names = {ws.id: ws.name for ws in ws_admin.list_workspaces(engine)}
    for key in key_admin.list_keys(engine, ws_id):
        state = "revoked" if key.revoked else "active"
        seen = str(key.last_seen_ms) if key.last_seen_ms is not None else "-"
        click.echo(
            f"{key.id}\t{key.identifier}\t{key.name}\t{names.get(key.workspace_id)}\t{state}\t"
            f"{seen}\t{','.join(key.permissions)}"
        )


@keys.command("revoke")
@click.argument("key_id")
@database_option
def keys_revoke(key_id: str, database: str) -> None:
    """Revoke a key by id or identifier."""
    try:
        key_admin.revoke_key(_engine(database), key_id)
    except ws_admin.AdminError as exc:
        _fail(exc)


main.add_command(catalog)  # heron catalog list|create|update|blocklist|...|purge
register_tools(main)  # heron import|export|series (HTTP tools on heron-client)
main.add_command(campaigns)  # heron campaigns create|update|archive|unarchive|list|show
main.add_command(segments)  # heron segments create|update|archive|delete|list|show|track


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
