"""`heron import`'s NDJSON reader: its chunked, sliced cutting gives exactly the batches of the
record-by-record rule, from the start or from any boundary a checkpoint can hold."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heron.tools import readers
from heron.tools.readers import Batch, Kind, kind_of, read_batches

_EVENT = b'{"external_id":"u%d","name":"e","time":"2026-01-01T00:00:00Z"}'
_PURCHASE = b'{"external_id":"u%d","product_id":"p","currency":"USD","price":1}'
_ATTRIBUTES = b'{"external_id":"u%d","first_name":"%s"}'

_LINES = st.one_of(
    st.integers(0, 9).map(lambda i: _EVENT % i),
    st.integers(0, 9).map(lambda i: _EVENT % i),
    st.integers(0, 9).map(lambda i: _PURCHASE % i),
    st.tuples(st.integers(0, 9), st.integers(0, 120)).map(
        lambda t: _ATTRIBUTES % (t[0], b"x" * t[1])  # some near the small body limit
    ),
    st.sampled_from([b"", b"   ", b"{", b"[1, 2]", b"null", b' {"external_id":"padded"} ']),
    st.integers(0, 9).map(lambda i: (_EVENT % i) + b"\r"),
)


def _reference(path: Path, kind: Kind, batch_size: int, start: tuple[int, int, int]) -> list[Any]:
    """The batches of the plain rule: one line, then one record, at a time."""
    first, offset, line = start
    out: list[Batch] = []
    batch = Batch(first=first, end=first, end_offset=offset)
    with path.open("rb") as stream:
        stream.seek(offset)
        for raw in stream:
            offset += len(raw)
            line += 1
            text = raw.strip()
            if not text:
                continue
            array: str | None = None
            problem: str | None = None
            try:
                obj = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                problem, text = f"not valid JSON: {exc}", b""
            else:
                if isinstance(obj, dict):
                    array = kind if kind != "auto" else kind_of(obj, kind)
                else:
                    problem, text = "not a JSON object", b""
            full = array is not None and (
                len(batch.objects[array]) >= batch_size
                or batch.size + len(text) > readers.MAX_BODY_BYTES
            )
            if full and batch.count:
                out.append(batch)
                batch = Batch(first=batch.end, end=batch.end, end_offset=batch.end_offset)
            if problem is not None:
                batch.problems.append((line, problem))
            elif array is not None:
                batch.objects[array].append(text)
                batch.lines[array].append(line)
                batch.size += len(text) + 1
            batch.end += 1
            batch.end_offset = offset
            batch.end_line = line
    if batch.count or batch.problems:
        out.append(batch)
    return [_shape(b) for b in out]


def _shape(batch: Batch) -> tuple[Any, ...]:
    """Everything a batch holds, comparable."""
    return (
        batch.first,
        batch.end,
        batch.end_offset,
        batch.end_line,
        batch.objects,
        batch.lines,
        batch.problems,
        batch.size,
    )


def _batches(path: Path, kind: Kind, batch_size: int, start: tuple[int, int, int]) -> Iterator[Any]:
    """The reader's batches, comparable."""
    first, offset, line = start
    for batch in read_batches(path, "ndjson", kind, batch_size, first, offset, line):
        yield _shape(batch)


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(_LINES, max_size=60),
    trailing_newline=st.booleans(),
    kind=st.sampled_from(["auto", "auto", "events", "attributes"]),
    batch_size=st.integers(1, 7),
    chunk=st.sampled_from([16, 64, 200, 1 << 20]),
)
def test_sliced_cutting_matches_the_record_by_record_rule(
    tmp_path_factory: pytest.TempPathFactory,
    lines: list[bytes],
    trailing_newline: bool,
    kind: Kind,
    batch_size: int,
    chunk: int,
) -> None:
    """Same batches (boundaries, offsets, lines, problems) for any file, chunk size and start."""
    path = tmp_path_factory.mktemp("ndjson") / "records.ndjson"
    path.write_bytes(b"\n".join(lines) + (b"\n" if trailing_newline and lines else b""))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(readers, "MAX_BODY_BYTES", 400)
        patch.setattr(readers, "_NDJSON_CHUNK", chunk)
        expected = _reference(path, kind, batch_size, (0, 0, 0))
        assert list(_batches(path, kind, batch_size, (0, 0, 0))) == expected
        for i, (_first, end, end_offset, end_line, *_rest) in enumerate(expected):
            # a re-run from an acknowledged boundary cuts the rest exactly the same
            start = (end, end_offset, end_line)
            assert list(_batches(path, kind, batch_size, start)) == expected[i + 1 :]
