"""`heron segments ...`: the operators' side of segment management."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy.engine import Engine

from conftest import make_workspace
from heron.cli import main


def run(database_url: str, *args: str) -> tuple[int, str]:
    """Run `heron segments ...`; exit code and output."""
    result = CliRunner().invoke(main, ["segments", *args, "--database", database_url])
    return result.exit_code, result.output


def test_create_track_update_list_archive_delete(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    make_workspace(engine)
    definition = tmp_path / "players.json"
    definition.write_text(
        json.dumps(
            {
                "name": "Players",
                "tags": ["games"],
                "filter": {"custom_event": "play", "op": "count_greater_than", "value": 0},
            }
        )
    )
    code, out = run(database_url, "create", str(definition))
    assert code == 0, out
    segment_id = json.loads(out)["segment_id"]
    code, out = run(database_url, "track", segment_id, "on")
    assert code == 0 and json.loads(out)["analytics_tracking_enabled"] is True
    code, out = run(database_url, "catch-up")
    assert code == 0 and "step" in out
    code, out = run(database_url, "list")
    assert (code, out) == (0, f"{segment_id}\tPlayers\ttracked\tlive\t0\tgames\n")
    renamed = tmp_path / "rename.json"
    renamed.write_text(json.dumps({"name": "Gamers"}))
    code, out = run(database_url, "update", segment_id, str(renamed))
    assert code == 0 and json.loads(out)["name"] == "Gamers"
    code, out = run(database_url, "show", segment_id)
    assert code == 0 and json.loads(out)["filter"]["custom_event"] == "play"
    code, out = run(database_url, "archive", segment_id)
    assert code == 0 and json.loads(out)["archived"] is True
    assert run(database_url, "list") == (0, "")
    assert run(database_url, "list", "--all")[1].startswith(segment_id)
    code, out = run(database_url, "delete", segment_id)
    assert (code, out) == (0, f"deleted {segment_id}\n")
    code, out = run(database_url, "show", segment_id)
    assert code == 1 and "does not exist" in out


def test_invalid_definition_files_are_refused(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    make_workspace(engine)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x", "filter": {"and": [{"app": "nope", "op": "used"}]}}))
    code, out = run(database_url, "create", str(bad))
    assert code == 1
    assert "invalid segment filter at $.filter.and[0].app" in out
    bad.write_text("[1, 2]")
    code, out = run(database_url, "create", str(bad))
    assert code == 1 and "a definition is a JSON object" in out
