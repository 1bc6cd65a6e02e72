"""Bench workloads: the import file draws the ingest bodies; bench/kpi_fold.py checks itself."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import orjson

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _bench_module(name: str, filename: str) -> ModuleType:
    """Load a bench script as a module (bench/ is not a package; `import` is a keyword)."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(name, BENCH / filename)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_import_file_events_are_zipf_popular_like_the_ingest_bodies(tmp_path: Path) -> None:
    """The names' and apps' shares follow the catalog (they were once near-uniform)."""
    bench_import = _bench_module("bench_import", "import.py")
    dataset = bench_import.dataset
    catalog = dataset.make_catalog()
    path = tmp_path / "events.ndjson"
    bench_import.write_events(path, 15_000, 1_700_000_000_000)
    events = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert len(events) == 15_000
    names = Counter(e["name"] for e in events)
    top_name, top_count = names.most_common(1)[0]
    top_id = catalog.event_names.index(top_name) + 1
    assert abs(top_count / len(events) - catalog.event_share(top_id)) < 0.02
    assert top_count / len(events) > 0.1  # the hottest of 500 names, as in the bodies
    apps = Counter(e["app_id"] for e in events)
    assert apps.most_common(1)[0][0] == catalog.app_api_ids[0]  # the biggest app: 30 of 100
    bodies = dataset.build_bodies(catalog, 200, 1_700_000_000_000)
    body_names = Counter(e["name"] for b in bodies for e in orjson.loads(b)["events"])
    assert body_names.most_common(1)[0][0] == top_name


def test_kpi_fold_bench_drives_the_real_folds_and_checks_the_counts() -> None:
    """bench/kpi_fold.py at a small scale: batches and slices do happen, the counts are exact."""
    done = subprocess.run(
        [sys.executable, str(BENCH / "kpi_fold.py"), "--events", "30000", "--group", "500",
         "--set", "CHECK_ROWS=500", "--set", "BATCH_ROWS=3000", "--set", "SLICE_PAIRS=800"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "equal to the users drawn" in done.stdout
    steps = re.search(r"\((\d+) steps, longest", done.stdout)
    assert steps is not None and int(steps.group(1)) > 10, done.stdout
