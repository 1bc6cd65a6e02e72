"""bench/import.py's event file draws the same workload as bench/ingest.py's bodies."""

from __future__ import annotations

import importlib.util
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
