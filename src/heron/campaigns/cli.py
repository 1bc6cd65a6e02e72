"""`heron campaigns ...`: create, update, archive, list and show campaigns from the shell.

Definitions are JSON files in the management API's format (`heron.campaigns.definition`); the
same rules apply, and a refused definition names the bad field.
"""

from __future__ import annotations

import json
import time
from typing import Any

import click
import msgspec
from sqlalchemy.engine import Engine

from heron.admin import workspaces as ws_admin
from heron.campaigns import shapes, store
from heron.campaigns.definition import CampaignDefinition, DefinitionError, load_definition
from heron.campaigns.manage import item
from heron.config import DEFAULT_DATABASE_URL
from heron.store import migrate
from heron.store.engine import make_engine

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
    """An engine on an up-to-date schema."""
    engine = make_engine(database)
    migrate.upgrade(engine)
    return engine


def _workspace_id(engine: Engine, name: str) -> int:
    """Resolve `--workspace` to an id."""
    try:
        return ws_admin.get_workspace(engine, name).id
    except ws_admin.AdminError as exc:
        raise click.ClickException(str(exc)) from None


def _now_ms() -> int:
    """The current time in epoch milliseconds."""
    return int(time.time() * 1000)


def _read_json(file: Any) -> dict[str, Any]:
    """A JSON object from an open file."""
    try:
        value = json.load(file)
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"{file.name}: malformed JSON: {exc}") from None
    if not isinstance(value, dict):
        raise click.ClickException(f"{file.name}: expected a JSON object")
    return value


def _definition(fields: dict[str, Any]) -> CampaignDefinition:
    """A validated definition, or an operator error naming the field."""
    try:
        return load_definition(fields)
    except DefinitionError as exc:
        raise click.ClickException(f"invalid campaign definition: {exc}") from None


def _run(work: Any) -> store.Campaign:
    """Run a change, turning refusals into operator errors."""
    try:
        result: store.Campaign = work()
    except store.CampaignError as exc:
        raise click.ClickException(exc.message) from None
    return result


def _show(campaign: store.Campaign) -> None:
    """Print a campaign as the management API shows it."""
    click.echo(json.dumps(item(campaign), indent=2, ensure_ascii=False))


@click.group()
def campaigns() -> None:
    """Campaigns: create from JSON, update, archive, list, show."""


@campaigns.command("create")
@click.argument("file", type=click.File("r"))
@click.option("--id", "api_id", default=None, help="API identifier (default: a new UUID).")
@workspace_option
@database_option
def create(file: Any, api_id: str | None, workspace: str, database: str) -> None:
    """Create a campaign from a JSON definition FILE (`-` reads standard input)."""
    fields = _read_json(file)
    api_id = api_id or fields.pop("id", None)
    definition = _definition(fields)
    engine = _engine(database)
    ws = _workspace_id(engine, workspace)
    _show(_run(lambda: store.create(engine, ws, definition, _now_ms(), api_id)))


@campaigns.command("update")
@click.argument("campaign_id")
@click.argument("file", type=click.File("r"))
@workspace_option
@database_option
def update(campaign_id: str, file: Any, workspace: str, database: str) -> None:
    """Replace the top-level fields FILE sets in CAMPAIGN_ID (the rest is kept)."""
    changes = _read_json(file)
    engine = _engine(database)
    ws = _workspace_id(engine, workspace)
    with engine.connect() as conn:
        current = store.get(conn, ws, campaign_id)
    if current is None:
        raise click.ClickException(f"campaign '{campaign_id}' does not exist")
    fields = msgspec.to_builtins(current.definition)
    fields.update(changes)
    definition = _definition(fields)
    _show(_run(lambda: store.edit(engine, ws, campaign_id, definition, _now_ms())))


def _archive_command(name: str, archived: bool) -> None:
    """Register `heron campaigns archive|unarchive CAMPAIGN_ID`."""

    @campaigns.command(name, help=f"{name.capitalize()} a campaign.")
    @click.argument("campaign_id")
    @workspace_option
    @database_option
    def command(campaign_id: str, workspace: str, database: str) -> None:
        engine = _engine(database)
        ws = _workspace_id(engine, workspace)
        changed = _run(lambda: store.set_archived(engine, ws, campaign_id, archived, _now_ms()))
        click.echo(f"{changed.api_id}\t{'archived' if archived else 'unarchived'}")


_archive_command("archive", True)
_archive_command("unarchive", False)


@campaigns.command("list")
@click.option("--include-archived", is_flag=True, help="List archived campaigns too.")
@workspace_option
@database_option
def list_campaigns(include_archived: bool, workspace: str, database: str) -> None:
    """One line per campaign: id, name, state, channels, last edited."""
    engine = _engine(database)
    ws = _workspace_id(engine, workspace)
    number = 0
    with engine.connect() as conn:
        while True:
            found = store.page(conn, ws, number, include_archived=include_archived)
            for campaign in found:
                d = campaign.definition
                state = (
                    "archived"
                    if d.archived
                    else "draft"
                    if d.draft
                    else "enabled"
                    if d.enabled
                    else "stopped"
                )
                fields = [
                    campaign.api_id,
                    d.name,
                    state,
                    ",".join(shapes.channels(campaign)) or "-",
                    shapes.iso_time(campaign.updated_at_ms) or "-",
                ]
                click.echo("\t".join(" ".join(f.split()) for f in fields))
            if len(found) < store.PAGE_SIZE:
                break
            number += 1


@campaigns.command("show")
@click.argument("campaign_id")
@workspace_option
@database_option
def show(campaign_id: str, workspace: str, database: str) -> None:
    """Print one campaign (JSON, the management API's shape)."""
    engine = _engine(database)
    ws = _workspace_id(engine, workspace)
    with engine.connect() as conn:
        found = store.get(conn, ws, campaign_id)
    if found is None:
        raise click.ClickException(f"campaign '{campaign_id}' does not exist")
    _show(found)
