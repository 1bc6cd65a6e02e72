"""`heron campaigns ...`: create from a JSON file, update, archive, list, show."""

from __future__ import annotations

import json
from pathlib import Path

from campaign_helpers import definition
from click.testing import CliRunner
from sqlalchemy.engine import Engine

from heron.cli import main


def run(database_url: str, *args: str) -> tuple[int, str]:
    """Run `heron campaigns ...`; exit code and output."""
    result = CliRunner().invoke(main, ["campaigns", *args, "--database", database_url])
    return result.exit_code, result.output


def test_create_update_archive_list_show(engine: Engine, database_url: str, tmp_path: Path) -> None:
    spec = tmp_path / "spring.json"
    spec.write_text(json.dumps(definition(id="spring")))
    code, out = run(database_url, "create", str(spec))
    assert code == 0, out
    shown = json.loads(out)
    assert (shown["id"], shown["name"], shown["channels"][0]) == (
        "spring",
        "Spring sale",
        "ios_push",
    )
    code, out = run(database_url, "list")
    assert code == 0
    line = out.strip().split("\t")
    assert line[:4] == [
        "spring",
        "Spring sale",
        "enabled",
        "ios_push,android_push,web_push,email,webhook,sms,content_cards,in-app_message",
    ]
    changes = tmp_path / "changes.json"
    changes.write_text(json.dumps({"name": "Summer sale", "draft": True}))
    code, out = run(database_url, "update", "spring", str(changes))
    assert code == 0, out
    updated = json.loads(out)
    assert (updated["name"], updated["draft"], updated["created_at"]) == (
        "Summer sale",
        True,
        shown["created_at"],
    )
    assert run(database_url, "archive", "spring") == (0, "spring\tarchived\n")
    assert run(database_url, "list") == (0, "")
    code, out = run(database_url, "list", "--include-archived")
    assert out.split("\t")[2] == "archived"
    assert run(database_url, "unarchive", "spring") == (0, "spring\tunarchived\n")
    code, out = run(database_url, "show", "spring")
    assert code == 0 and json.loads(out)["name"] == "Summer sale"


def test_refusals_name_the_problem(engine: Engine, database_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(definition(conversion_behaviors=[{"type": "Opens Email"}])))
    code, out = run(database_url, "create", str(bad))
    assert code == 1 and "$.conversion_behaviors[0]" in out
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    code, out = run(database_url, "create", str(broken))
    assert code == 1 and "malformed JSON" in out
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"name": "x"}))
    assert run(database_url, "create", str(good), "--id", "x")[0] == 0
    code, out = run(database_url, "create", str(good), "--id", "x")
    assert code == 1 and "exists already" in out
    for command in (("show", "nope"), ("archive", "nope"), ("update", "nope", str(good))):
        code, out = run(database_url, *command)
        assert code == 1 and "'nope' does not exist" in out
    code, out = run(database_url, "list", "--workspace", "missing")
    assert code == 1
