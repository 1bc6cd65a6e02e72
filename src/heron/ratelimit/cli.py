"""`heron workspaces rate-limit set|list|reset`: per-workspace rate-limit overrides."""

from __future__ import annotations

import click
from sqlalchemy.engine import Engine

from heron.admin import workspaces as ws_admin
from heron.config import DEFAULT_DATABASE_URL
from heron.ratelimit.buckets import BUCKETS
from heron.ratelimit.limiter import REFRESH_SECONDS
from heron.ratelimit.overrides import (
    OverrideError,
    effective_limits,
    remove_overrides,
    set_override,
)
from heron.store import migrate
from heron.store.engine import make_engine

__all__ = ["rate_limit"]

_database_option = click.option(
    "--database",
    "database",
    envvar="HERON_DATABASE_URL",
    default=DEFAULT_DATABASE_URL,
    show_default=True,
    help="SQLAlchemy database URL (env HERON_DATABASE_URL).",
)
_bucket_choice = click.Choice(list(BUCKETS))


def _workspace(database: str, name: str) -> tuple[Engine, int]:
    """An engine on an up-to-date schema and the id of the named workspace."""
    engine = make_engine(database)
    migrate.upgrade(engine)
    try:
        return engine, ws_admin.get_workspace(engine, name).id
    except ws_admin.AdminError as exc:
        raise click.ClickException(str(exc)) from None


@click.group("rate-limit")
def rate_limit() -> None:
    """A workspace's rate limits (Braze's buckets; running servers apply changes in seconds)."""


@rate_limit.command("set")
@click.argument("name")
@click.argument("bucket", type=_bucket_choice, metavar="BUCKET")
@click.argument("limit", type=click.IntRange(min=1))
@click.argument("period_seconds", type=click.IntRange(min=1))
@_database_option
def rate_limit_set(name: str, bucket: str, limit: int, period_seconds: int, database: str) -> None:
    """Give workspace NAME its own LIMIT requests per PERIOD_SECONDS in BUCKET (see `list`)."""
    engine, workspace_id = _workspace(database, name)
    try:
        set_override(engine, workspace_id, bucket, limit, period_seconds)
    except OverrideError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()
    click.echo(
        f"{name}: {bucket} = {limit} per {period_seconds}s"
        f" (running servers apply it within {REFRESH_SECONDS:g}s)",
        err=True,
    )


@rate_limit.command("list")
@click.argument("name")
@_database_option
def rate_limit_list(name: str, database: str) -> None:
    """List every bucket for workspace NAME: bucket, limit, period (s), source, endpoints."""
    engine, workspace_id = _workspace(database, name)
    try:
        limits = effective_limits(engine, workspace_id)
    finally:
        engine.dispose()
    for item in limits:
        source = "override" if item.overridden else "default"
        click.echo(
            f"{item.bucket}\t{item.limit}\t{item.period_seconds}\t{source}\t{item.description}"
        )


@rate_limit.command("reset")
@click.argument("name")
@click.argument("bucket", type=_bucket_choice, required=False, metavar="[BUCKET]")
@_database_option
def rate_limit_reset(name: str, bucket: str | None, database: str) -> None:
    """Put workspace NAME back on Braze's defaults (one BUCKET, or all when none is given)."""
    engine, workspace_id = _workspace(database, name)
    try:
        removed = remove_overrides(engine, workspace_id, bucket)
    except OverrideError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()
    click.echo(f"{name}: {removed} override(s) removed", err=True)
