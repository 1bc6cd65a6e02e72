"""`heron catalog ...`: the operators' side of catalog governance."""

from __future__ import annotations

from catalog_helpers import days_ago, set_columns
from click.testing import CliRunner
from sqlalchemy.engine import Engine

from conftest import make_workspace
from heron.cli import main


def run(database_url: str, *args: str) -> tuple[int, str]:
    """Run `heron catalog ...`; exit code and output."""
    result = CliRunner().invoke(main, ["catalog", *args, "--database", database_url])
    return result.exit_code, result.output


def test_create_update_list(engine: Engine, database_url: str) -> None:
    code, out = run(
        database_url,
        "create",
        "events",
        "signed_up",
        "--description",
        "First visit",
        "--tag",
        "Growth",
        "--analytics",
    )
    assert (code, out) == (0, "signed_up\tActive\tanalytics\tGrowth\tFirst visit\n")
    code, out = run(database_url, "create", "custom_attributes", "tier", "--data-type", "Array")
    assert (code, out) == (0, "tier\tActive\tArray\t-\t-\n")
    code, out = run(database_url, "update", "events", "signed_up", "--clear-tags", "--no-analytics")
    assert (code, out) == (0, "signed_up\tActive\t-\t-\tFirst visit\n")
    run(database_url, "create", "products", "sku")
    code, out = run(database_url, "list", "products")
    assert (code, out) == (0, "sku\tActive\t-\t-\n")
    code, out = run(database_url, "create", "events", "signed_up")
    assert code == 1 and "already exists" in out
    code, out = run(database_url, "create", "products", "p", "--analytics")
    assert code == 2 and "applies to events only" in out


def test_blocklist_trash_restore_purge(engine: Engine, database_url: str) -> None:
    run(database_url, "create", "events", "a")
    run(database_url, "create", "events", "b")
    code, out = run(database_url, "blocklist", "events", "a", "b")
    assert (code, out) == (0, "a\tBlocklisted\t-\t-\t-\nb\tBlocklisted\t-\t-\t-\n")
    code, out = run(database_url, "trash", "events", "a")
    assert code == 1 and "it can be trashed from" in out
    set_columns(engine, "events", "a", blocklisted_at_ms=days_ago(8))
    set_columns(engine, "events", "b", blocklisted_at_ms=days_ago(8))
    assert run(database_url, "trash", "events", "a", "b")[0] == 0
    assert run(database_url, "restore", "events", "b")[0] == 0
    code, out = run(database_url, "list", "events", "--status", "Trashed")
    assert (code, out) == (0, "a\tTrashed\t-\t-\t-\n")
    assert run(database_url, "purge") == (0, "0 entries purged\n")
    set_columns(engine, "events", "a", trashed_at_ms=days_ago(7))
    code, out = run(database_url, "purge")
    assert code == 0 and out.startswith("purged\tevents\t")
    assert run(database_url, "list", "events") == (0, "b\tBlocklisted\t-\t-\t-\n")
    assert run(database_url, "unblock", "events", "b")[0] == 0
    assert run(database_url, "trash", "products", "x")[0] == 1


def test_workspace_option(engine: Engine, database_url: str) -> None:
    make_workspace(engine, "other")
    run(database_url, "create", "events", "theirs", "--workspace", "other")
    assert run(database_url, "list", "events") == (0, "")
    assert run(database_url, "list", "events", "--workspace", "other")[1] == (
        "theirs\tActive\t-\t-\t-\n"
    )
    code, out = run(database_url, "list", "events", "--workspace", "nope")
    assert code == 1 and "no workspace named 'nope'" in out
