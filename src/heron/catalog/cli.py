"""`heron catalog ...`: custom events, custom attributes and products for operators.

The same rules as the management API (`heron.catalog.service`). Running servers see a change
within `heron.catalog.blocklist.REFRESH_SECONDS`.
"""

from __future__ import annotations

import time
from typing import Any

import click
from sqlalchemy.engine import Engine

from heron.admin import workspaces as ws_admin
from heron.catalog import cursor, queries, service
from heron.catalog.items import managed_item
from heron.catalog.kinds import (
    ATTRIBUTE_DATA_TYPES,
    ATTRIBUTES,
    EVENTS,
    KINDS,
    LISTED,
    MAX_DESCRIPTION_LENGTH,
    Kind,
)
from heron.catalog.purge import purge_due
from heron.config import DEFAULT_DATABASE_URL
from heron.store import migrate
from heron.store.engine import make_engine

MAX_ARRAY_LENGTH = 25  # what `array_length` shows here (the server's default setting)

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
kind_argument = click.argument("kind", type=click.Choice(sorted(KINDS)))


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


def _check_name(kind: Kind, name: str) -> str:
    """A valid name, or a usage error."""
    problem = kind.name_error(name)
    if problem is not None:
        raise click.BadParameter(f"{name!r}: {problem}", param_hint="NAME")
    return name


def _line(kind: Kind, row: Any) -> str:
    """One entry as a tab-separated line: name, status, tags, description (and type/flag)."""
    item = managed_item(kind, row, MAX_ARRAY_LENGTH)
    extra = []
    if kind is EVENTS:
        extra.append("analytics" if item["included_in_analytics_report"] else "-")
    if kind is ATTRIBUTES:
        extra.append(item["data_type"])
    tags = ",".join(item["tag_names"]) or "-"
    fields = [item["name"], item["status"], *extra, tags, item["description"] or "-"]
    return "\t".join(" ".join(field.split("\t")).replace("\n", " ") for field in fields)


def _run(work: Any) -> Any:
    """Run a governance change, turning refusals into operator errors."""
    try:
        return work()
    except service.CatalogError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def catalog() -> None:
    """Custom events, custom attributes and products: describe, tag, blocklist, trash."""


@catalog.command("list")
@kind_argument
@click.option("--status", type=click.Choice(LISTED), default=None, help="Only this status.")
@workspace_option
@database_option
def list_entries(kind: str, status: str | None, workspace: str, database: str) -> None:
    """List entries: name, status, [flag or data type], tags, description."""
    engine = _engine(database)
    ws = _workspace_id(engine, workspace)
    which = KINDS[kind]
    position = None
    with engine.connect() as conn:
        while True:
            page = queries.page(conn, which, ws, position, LISTED if status is None else (status,))
            for row in page.rows:
                click.echo(_line(which, row))
            if page.next is None:
                break
            position = cursor.decode(page.next)


def _fields(
    kind: Kind,
    description: str | None,
    tags: tuple[str, ...],
    clear_tags: bool,
    analytics: bool | None,
    data_type: str | None,
) -> service.Fields:
    """Fields from command-line options."""
    if description is not None and len(description) > MAX_DESCRIPTION_LENGTH:
        raise click.BadParameter(
            f"at most {MAX_DESCRIPTION_LENGTH} characters", param_hint="--description"
        )
    if analytics is not None and kind is not EVENTS:
        raise click.BadParameter("applies to events only", param_hint="--analytics")
    if data_type is not None and kind is not ATTRIBUTES:
        raise click.BadParameter("applies to custom_attributes only", param_hint="--data-type")
    tag_names = tuple(dict.fromkeys(tags)) if tags or clear_tags else None
    return service.Fields(description, tag_names, analytics, data_type)


def _field_options(command: Any) -> Any:
    """The options that set an entry's fields."""
    for option in reversed(
        [
            click.option("--description", default=None, help="Description text."),
            click.option("--tag", "tags", multiple=True, help="A tag (repeat); replaces tags."),
            click.option("--clear-tags", is_flag=True, help="Remove every tag."),
            click.option(
                "--analytics/--no-analytics",
                default=None,
                help="Events: included_in_analytics_report.",
            ),
            click.option(
                "--data-type",
                type=click.Choice(ATTRIBUTE_DATA_TYPES),
                default=None,
                help="Custom attributes: the data type label.",
            ),
        ]
    ):
        command = option(command)
    return command


@catalog.command("create")
@kind_argument
@click.argument("name")
@_field_options
@workspace_option
@database_option
def create(
    kind: str,
    name: str,
    description: str | None,
    tags: tuple[str, ...],
    clear_tags: bool,
    analytics: bool | None,
    data_type: str | None,
    workspace: str,
    database: str,
) -> None:
    """Pre-create NAME (Active) before it is ever tracked."""
    which = KINDS[kind]
    fields = _fields(which, description, tags, clear_tags, analytics, data_type)
    engine = _engine(database)
    ws = _workspace_id(engine, workspace)
    row = _run(
        lambda: service.create(engine, which, ws, _check_name(which, name), fields, _now_ms())
    )
    click.echo(_line(which, row))


@catalog.command("update")
@kind_argument
@click.argument("name")
@_field_options
@workspace_option
@database_option
def update(
    kind: str,
    name: str,
    description: str | None,
    tags: tuple[str, ...],
    clear_tags: bool,
    analytics: bool | None,
    data_type: str | None,
    workspace: str,
    database: str,
) -> None:
    """Set NAME's description, tags, analytics flag or data type."""
    which = KINDS[kind]
    fields = _fields(which, description, tags, clear_tags, analytics, data_type)
    engine = _engine(database)
    ws = _workspace_id(engine, workspace)
    row = _run(lambda: service.edit(engine, which, ws, name, fields))
    click.echo(_line(which, row))


def _action_command(action: service.Action) -> None:
    """Register `heron catalog <action> KIND NAME...`."""

    @catalog.command(action, help=f"{action.capitalize()} one or more names (all or nothing).")
    @kind_argument
    @click.argument("names", nargs=-1, required=True)
    @workspace_option
    @database_option
    def command(kind: str, names: tuple[str, ...], workspace: str, database: str) -> None:
        which = KINDS[kind]
        engine = _engine(database)
        ws = _workspace_id(engine, workspace)
        rows = _run(
            lambda: service.change_status(engine, which, ws, list(names), action, _now_ms())
        )
        for row in rows:
            click.echo(_line(which, row))


for _action in service.ACTIONS:
    _action_command(_action)


@catalog.command("purge")
@database_option
def purge(database: str) -> None:
    """Purge now every entry trashed at least 7 days ago (servers also do it periodically)."""
    engine = _engine(database)
    done = purge_due(engine, _now_ms())
    for key, workspace_id, name in done:
        click.echo(f"purged\t{key}\t{workspace_id}\t{name}")
    click.echo(f"{len(done)} entries purged", err=True)
