"""`heron import`, `export` and `series` against the fake server: batching, errors, resumption."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fakeserver import FakeBraze, Reply, StoreThenDrop
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from heron.cli import main
from heron.runtime import YOUNG_GENERATION_THRESHOLD
from heron.store.schema import events
from heron.tools.cli import chart
from serverproc import ServerProcess, heron_cli


@pytest.fixture
def fake() -> Iterator[FakeBraze]:
    """A running fake server (honours Idempotency-Key)."""
    with FakeBraze() as server:
        yield server


def _ndjson(path: Path, count: int) -> Path:
    """`count` records: mostly events, every 10th a purchase, every 25th attributes."""
    with path.open("w") as stream:
        for i in range(count):
            if i % 25 == 0:
                record: dict[str, object] = {"external_id": f"u{i}", "plan": "pro", "seq": i}
            elif i % 10 == 0:
                record = {"external_id": f"u{i}", "product_id": "p", "currency": "USD",
                          "price": 1.5, "time": "2026-01-01T00:00:00Z", "seq": i}  # fmt: skip
            else:
                record = {"external_id": f"u{i}", "name": "played", "time": "2026-01-01", "seq": i}
            stream.write(json.dumps(record) + "\n")
    return path


def _import(fake: FakeBraze, *args: str) -> tuple[int, str]:
    """Run `heron import` in-process; exit code and stderr."""
    result = CliRunner().invoke(
        main,
        ["import", *args, "--url", fake.base_url, "--api-key", "k", "--max-retries", "0"],
    )
    return result.exit_code, result.output


def test_import_ndjson_sends_every_record_once(fake: FakeBraze, tmp_path: Path) -> None:
    """Every record lands in its array, in batches of at most 75 per array."""
    source = _ndjson(tmp_path / "data.ndjson", 1000)
    code, output = _import(fake, str(source), "--concurrency", "4")
    assert code == 0, output
    assert sorted(int(str(o["seq"])) for o in fake.stored) == list(range(1000))
    arrays = {o["array"] for o in fake.stored if o["seq"] == 10} | {
        o["array"] for o in fake.stored if o["seq"] in (25, 1)
    }
    assert arrays == {"purchases", "attributes", "events"}
    for seen in fake.requests_to("/users/track"):
        body = json.loads(seen.body)
        assert all(len(body[a]) <= 75 for a in body)
    assert "processed 880 events, 80 purchases, 40 attributes" in output
    again = _import(fake, str(source))  # complete: nothing is sent again
    assert again[0] == 0 and len(fake.stored) == 1000


def test_import_collects_garbage_as_rarely_as_the_server(fake: FakeBraze, tmp_path: Path) -> None:
    """The tools tune CPython's GC as `heron serve` does (it took a quarter of the import's CPU)."""
    source = _ndjson(tmp_path / "data.ndjson", 100)
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)  # CPython's defaults
    try:
        code, output = _import(fake, str(source))
        assert code == 0, output
        assert gc.get_threshold()[0] == YOUNG_GENERATION_THRESHOLD
        assert gc.get_freeze_count() > 0
    finally:
        gc.set_threshold(*before)
    assert len(fake.stored) == 100


def test_import_reports_refused_records_by_line(fake: FakeBraze, tmp_path: Path) -> None:
    """Unreadable lines and objects the server refuses are reported with their line numbers."""
    source = tmp_path / "data.ndjson"
    lines = [json.dumps({"external_id": f"u{i}", "name": "e", "time": "2026"}) for i in range(100)]
    lines[9] = "{broken"
    lines[80] = json.dumps({"external_id": "x", "name": "e", "time": "2026", "reject": True})
    lines.insert(50, "")
    source.write_text("\n".join(lines) + "\n")
    errors = tmp_path / "errors.ndjson"
    code, output = _import(fake, str(source), "--kind", "events", "--errors", str(errors))
    assert code == 0, output
    refused = [json.loads(line) for line in errors.read_text().splitlines()]
    assert [(r["line"], r["input_array"]) for r in refused] == [(10, ""), (82, "events")]
    assert len(fake.stored) == 98


def test_import_csv(fake: FakeBraze, tmp_path: Path) -> None:
    """CSV rows become objects: dotted columns nest, JSON cells typed, ids stay strings."""
    source = tmp_path / "purchases.csv"
    source.write_text(
        "external_id,product_id,currency,price,quantity,time,properties.color,properties.zip\n"
        "007,shoe,USD,19.99,2,2026-01-01T00:00:00Z,red,007\n"
        "\n"
        "008,hat,EUR,5,1,2026-01-02T00:00:00Z,,\n"
    )
    code, output = _import(fake, str(source))
    assert code == 0, output
    assert fake.stored == [
        {"array": "purchases", "external_id": "007", "product_id": "shoe", "currency": "USD",
         "price": 19.99, "quantity": 2, "time": "2026-01-01T00:00:00Z",
         "properties": {"color": "red", "zip": "007"}},
        {"array": "purchases", "external_id": "008", "product_id": "hat", "currency": "EUR",
         "price": 5, "quantity": 1, "time": "2026-01-02T00:00:00Z"},
    ]  # fmt: skip


def test_import_resumes_after_a_failure_without_duplicates(fake: FakeBraze, tmp_path: Path) -> None:
    """A batch stored but unanswered stops the import; the re-run re-sends it under its key."""
    source = _ndjson(tmp_path / "data.ndjson", 600)
    fake.script("/users/track", None, None, StoreThenDrop())
    code, output = _import(fake, str(source), "--concurrency", "1")
    assert code == 1 and "re-run the same command to resume" in output
    checkpoint = json.loads((tmp_path / "data.ndjson.heron-import").read_text())
    assert checkpoint["complete"] is False and checkpoint["record"] > 0
    code, output = _import(fake, str(source), "--concurrency", "3")
    assert code == 0, output
    assert "resumed at record" in output
    assert sorted(int(str(o["seq"])) for o in fake.stored) == list(range(600))
    assert fake.replays == 1


@pytest.mark.parametrize("httpx_transport", [False, True], ids=["track-lane", "httpx"])
def test_import_retries_429_5xx_and_drops(
    fake: FakeBraze, tmp_path: Path, httpx_transport: bool
) -> None:
    """Both lanes retry 429, 5xx and dropped connections under the same key: stored once."""
    source = _ndjson(tmp_path / "data.ndjson", 300)
    fake.script(
        "/users/track",
        Reply(429, {"message": "slow down"}, {"X-RateLimit-Reset": "0"}),
        Reply(503, {"message": "busy"}),
        StoreThenDrop(),
    )
    extra = ["--httpx-transport"] if httpx_transport else []
    result = CliRunner().invoke(
        main,
        ["import", str(source), "--url", fake.base_url, "--api-key", "k", "--concurrency", "2",
         "--max-retries", "3", *extra],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(int(str(o["seq"])) for o in fake.stored) == list(range(300))
    assert fake.replays == 1  # the dropped batch came back under its key
    keys = [s.headers["idempotency-key"] for s in fake.requests_to("/users/track")]
    assert len(keys) == len(set(keys)) + 3 and all(k.startswith("heron-import-") for k in keys)


def test_import_refuses_a_checkpoint_of_another_file(fake: FakeBraze, tmp_path: Path) -> None:
    """A checkpoint written for other content is refused unless --restart."""
    source = _ndjson(tmp_path / "data.ndjson", 100)
    fake.script("/users/track", Reply(500, {"message": "down"}))
    assert _import(fake, str(source), "--concurrency", "1")[0] == 1
    assert fake.stored == []
    _ndjson(source, 90)
    code, output = _import(fake, str(source))
    assert code == 1 and "--restart" in output
    assert _import(fake, str(source), "--restart")[0] == 0
    assert len(fake.stored) == 90


RECORDS_TO_INTERRUPT = 30_000


def _default_sigint() -> None:
    """In the child before exec: Ctrl-C's default, even when the suite was started with SIGINT
    ignored (a shell's background job), which the child would inherit and keep."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_import_killed_midway_resumes_without_duplicates(tmp_path: Path, stop: int) -> None:
    """SIGKILL (or Ctrl-C) during an import, then a re-run: every record stored exactly once."""
    # The fake holds every request after the 40th until the signal has been sent, so the
    # import is surely in the middle, however fast the machine runs it.
    source = _ndjson(tmp_path / "data.ndjson", RECORDS_TO_INTERRUPT)
    with FakeBraze(delay=0.01, hold_after=40) as fake:
        argv = [sys.executable, "-m", "heron", "import", str(source), "--url", fake.base_url,
                "--api-key", "k", "--concurrency", "8"]  # fmt: skip
        process = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_default_sigint
        )
        checkpoint = tmp_path / "data.ndjson.heron-import"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if checkpoint.exists() and len(checkpoint.read_text().splitlines()) > 3:
                break  # a snapshot line and some acknowledgements
            time.sleep(0.02)
        os.kill(process.pid, stop)
        _, stderr = process.communicate(timeout=30)
        fake.released.set()  # the held requests go on (the client no longer waits for them)
        fake.hold_after = None
        if stop == signal.SIGINT:
            assert process.returncode == 1, stderr.decode()[-2000:]
            assert b"re-run the same command to resume" in stderr
            assert len(checkpoint.read_text().splitlines()) == 1  # compacted on the way out
        stored_before = len(fake.stored)
        assert 0 < stored_before < RECORDS_TO_INTERRUPT
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        assert sorted(int(str(o["seq"])) for o in fake.stored) == list(range(RECORDS_TO_INTERRUPT))


def test_export_json_and_csv(fake: FakeBraze, tmp_path: Path) -> None:
    """`heron export` writes every page as a JSON array or CSV."""
    segments = [{"id": f"s{i}", "name": f"n{i}", "analytics_tracking_enabled": False,
                 "tags": ["a", "b"]} for i in range(3)]  # fmt: skip
    fake.script("/segments/list", Reply(200, {"message": "success", "segments": segments}))
    fake.script("/segments/list", Reply(200, {"message": "success", "segments": segments}))
    runner = CliRunner()
    common = ["--url", fake.base_url, "--api-key", "k"]
    result = runner.invoke(main, ["export", "segments", *common])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == segments
    out = tmp_path / "segments.csv"
    result = runner.invoke(main, ["export", "segments", *common, "--format", "csv", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().splitlines()[:2] == [
        "id,name,analytics_tracking_enabled,tags",
        's0,n0,False,"[""a"", ""b""]"',
    ]


def test_series_chart(fake: FakeBraze) -> None:
    """`heron series` draws one bar per point, scaled to the largest count."""
    data = [{"time": "2026-01-01", "count": 10}, {"time": "2026-01-02", "count": 5},
            {"time": "2026-01-03", "count": 0}]  # fmt: skip
    fake.script("/events/data_series", Reply(200, {"message": "success", "data": data}))
    result = CliRunner().invoke(
        main,
        [
            "series",
            "played",
            "--length",
            "3",
            "--width",
            "10",
            "--url",
            fake.base_url,
            "--api-key",
            "k",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "2026-01-01 │" + "█" * 10 + " 10"
    assert lines[1] == "2026-01-02 │" + "█" * 5 + " 5"
    assert lines[2] == "2026-01-03 │ 0" and lines[3].endswith("15 (max 10)")
    assert "event=played&length=3&unit=day" in fake.requests_to("/events/data_series")[0].query
    assert chart([], 10) == ["(no data)"]


def test_checkpoint_journal_watermark_and_torn_line(tmp_path: Path) -> None:
    """Out-of-order acknowledgements advance the watermark only over contiguous batches; a torn
    last journal line is ignored (that batch is simply re-sent)."""
    from heron.tools.checkpoint import Checkpoint, CheckpointMismatch

    path = tmp_path / "ck"
    checkpoint = Checkpoint.load(path, "fp")
    checkpoint.acknowledge(75, 150, 2000, 150, {"events": 75})
    assert (checkpoint.record, checkpoint.acked) == (0, {75: (150, 2000, 150)})
    checkpoint.acknowledge(0, 75, 1000, 75, {"events": 70}, errors=5)
    checkpoint.acknowledge(225, 300, 4000, 300, {"events": 75})
    checkpoint.close()
    with path.open("a") as stream:
        stream.write('[150, 225, 3000, 225, {"eve')
    again = Checkpoint.load(path, "fp")
    assert (again.record, again.offset, again.line) == (150, 2000, 150)
    assert again.acked == {225: (300, 4000, 300)}
    assert again.counts == {"events": 220} and again.errors == 5
    with pytest.raises(CheckpointMismatch):
        Checkpoint.load(path, "other")


def test_commands_explain_a_missing_client(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without heron-client installed, the tools say how to install it."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "heron_client" else real(name)
    )
    source = _ndjson(tmp_path / "d.ndjson", 1)
    for argv in (["import", str(source)], ["export", "events"], ["series", "e"]):
        result = CliRunner().invoke(main, [*argv, "--api-key", "k"])
        assert result.exit_code == 1 and "pip install -e clients/python" in result.output


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_import_killed_midway_against_heron_stores_every_event_once(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    """SIGKILL an import into a real heron, re-run it: heron holds each event exactly once.

    Batches in flight at the kill were stored by heron but not journalled by the importer; the
    re-run re-sends them under their old Idempotency-Key and heron answers without storing.
    """
    source = tmp_path / "events.ndjson"
    with source.open("w") as stream:
        for i in range(30_000):
            event = {"external_id": f"u{i % 500}", "name": "played",
                     "time": "2026-01-01T00:00:00Z", "properties": {"seq": i}}  # fmt: skip
            stream.write(json.dumps(event) + "\n")
    key = heron_cli("keys", "create", "--name", "import", "--database", database_url)
    with ServerProcess(database_url, tmp_path / "server.log", workers=2) as server:
        argv = [sys.executable, "-m", "heron", "import", str(source), "--url", server.base_url,
                "--api-key", key, "--concurrency", "16"]  # fmt: skip
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        checkpoint = tmp_path / "events.ndjson.heron-import"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if checkpoint.exists() and len(checkpoint.read_text().splitlines()) > 20:
                break
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)
        process.communicate(timeout=30)
        with engine.connect() as conn:
            stored_before = conn.execute(select(func.count()).select_from(events)).scalar_one()
        assert 0 < stored_before < 30_000
        done = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
        assert done.returncode == 0, done.stderr
    with engine.connect() as conn:
        seqs = conn.execute(select(events.c.properties)).scalars().all()
    assert sorted(json.loads(p)["seq"] for p in seqs) == list(range(30_000))
