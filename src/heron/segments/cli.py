"""`heron segments ...`: segment definitions for operators (the management API's rules).

A definition file is the JSON body of `POST /heron/v1/segments`: `name`, `description`,
`tags` and `filter`. Running servers pick changes up at their next evaluator step.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click
from sqlalchemy.engine import Engine

from heron.admin import workspaces as ws_admin
from heron.config import DEFAULT_DATABASE_URL
from heron.segments import service
from heron.segments.consumer import catch_up
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
    """Wall-clock time in epoch milliseconds."""
    return int(time.time() * 1000)


def _run(work: Any) -> Any:
    """Run a change, turning refusals into operator errors."""
    try:
        return work()
    except service.SegmentError as exc:
        raise click.ClickException(exc.message) from None


def _definition(path: Path) -> dict[str, Any]:
    """Read a definition file (a JSON object)."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"{path}: {exc}") from None
    if not isinstance(body, dict):
        raise click.ClickException(f"{path}: a definition is a JSON object")
    return body


def _show(row: Any) -> None:
    """Print one segment as JSON."""
    click.echo(json.dumps(service.management_item(row), indent=2, ensure_ascii=False))


@click.group()
def segments() -> None:
    """Segment definitions: create, edit, archive, delete, analytics tracking."""


@segments.command("create")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@workspace_option
@database_option
def create_command(file: Path, workspace: str, database: str) -> None:
    """Create a segment from a JSON definition file; print it (with its segment_id)."""
    engine = _engine(database)
    ws = _workspace_id(engine, workspace)
    fields = _run(lambda: service.parse_fields(_definition(file), creating=True))
    _show(_run(lambda: service.create(engine, ws, fields, _now_ms())))


@segments.command("update")
@click.argument("segment_id")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@workspace_option
@database_option
def update_command(segment_id: str, file: Path, workspace: str, database: str) -> None:
    """Change a segment's fields to those a JSON file holds (others stay)."""
    engine = _engine(database)
    ws = _workspace_id(engine, workspace)
    fields = _run(lambda: service.parse_fields(_definition(file), creating=False))
    _show(_run(lambda: service.edit(engine, ws, segment_id, fields, _now_ms())))


@segments.command("archive")
@click.argument("segment_id")
@click.option("--undo", is_flag=True, help="Unarchive instead.")
@workspace_option
@database_option
def archive_command(segment_id: str, undo: bool, workspace: str, database: str) -> None:
    """Archive a segment (or unarchive it with --undo)."""
    engine = _engine(database)
    ws = _workspace_id(engine, workspace)
    _show(_run(lambda: service.archive(engine, ws, segment_id, not undo, _now_ms())))


@segments.command("delete")
@click.argument("segment_id")
@workspace_option
@database_option
def delete_command(segment_id: str, workspace: str, database: str) -> None:
    """Delete a segment with its members, sizes and analytics."""
    engine = _engine(database)
    ws = _workspace_id(engine, workspace)
    _run(lambda: service.remove(engine, ws, segment_id))
    click.echo(f"deleted {segment_id}")


@segments.command("list")
@click.option("--all", "include_archived", is_flag=True, help="Include archived segments.")
@workspace_option
@database_option
def list_command(include_archived: bool, workspace: str, database: str) -> None:
    """List segments: id, name, tracking, archived, size, tags."""
    engine = _engine(database)
    ws = _workspace_id(engine, workspace)
    with engine.connect() as conn:
        rows = service.list_all(conn, ws, include_archived=include_archived)
    for row in rows:
        item = service.management_item(row)
        click.echo(
            "\t".join(
                [
                    item["segment_id"],
                    item["name"],
                    "tracked" if item["analytics_tracking_enabled"] else "-",
                    "archived" if item["archived"] else "live",
                    str(item["size"]),
                    ",".join(item["tags"]) or "-",
                ]
            )
        )


@segments.command("show")
@click.argument("segment_id")
@workspace_option
@database_option
def show_command(segment_id: str, workspace: str, database: str) -> None:
    """Print one segment as JSON."""
    engine = _engine(database)
    ws = _workspace_id(engine, workspace)
    with engine.connect() as conn:
        row = service.find(conn, ws, segment_id)
    if row is None:
        raise click.ClickException(f"segment '{segment_id}' does not exist")
    _show(row)


@segments.command("track")
@click.argument("segment_id")
@click.argument("state", type=click.Choice(["on", "off"]))
@click.option("--max-tracked", default=service.DEFAULT_MAX_TRACKED, show_default=True, type=int)
@workspace_option
@database_option
def track_command(
    segment_id: str, state: str, max_tracked: int, workspace: str, database: str
) -> None:
    """Turn analytics tracking on or off."""
    engine = _engine(database)
    ws = _workspace_id(engine, workspace)
    row = _run(
        lambda: service.set_tracking(engine, ws, segment_id, state == "on", _now_ms(), max_tracked)
    )
    _show(row)


@segments.command("catch-up")
@database_option
def catch_up_command(database: str) -> None:
    """Run the segment evaluator until membership and tracked counts are current."""
    engine = _engine(database)
    steps = catch_up(engine)
    click.echo(f"evaluator ran {steps} step(s)")
