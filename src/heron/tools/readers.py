"""Stream an NDJSON or CSV file of events, purchases or attributes into `/users/track` batches.

Each record becomes one object of one array (`attributes`, `events` or `purchases`). The kind
is given (`--kind`) or, with `auto`, read from each object: a `product_id` makes a purchase,
`name` together with `time` an event, anything else an attributes object.

A batch holds up to `batch_size` objects per array and at most `MAX_BODY_BYTES` of JSON; it is
closed as soon as the next record would not fit. Boundaries depend only on the records from
the batch's first one on, so a re-run that starts at an acknowledged boundary cuts exactly the
same batches (the importer's idempotency keys rely on it).

CSV: the header names the fields; `a.b` columns nest (`properties.movie`,
`user_alias.alias_name`); an empty cell is left out. Identifier and name columns stay strings;
any other cell that parses as JSON (`42`, `true`, `[1,2]`, `"x"`) takes that value, everything
else is a string (so `007` stays `"007"`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

__all__ = ["ARRAYS", "MAX_BODY_BYTES", "Batch", "Kind", "read_batches"]

Kind = Literal["auto", "events", "purchases", "attributes"]
ARRAYS = ("attributes", "events", "purchases")
MAX_BODY_BYTES = 3_500_000  # under Braze's 4 MB body limit, with room for the envelope
_STRING_COLUMNS = frozenset(
    {
        "external_id",
        "braze_id",
        "email",
        "phone",
        "app_id",
        "name",
        "time",
        "product_id",
        "currency",
        "alias_name",
        "alias_label",
        "user_alias.alias_name",
        "user_alias.alias_label",
    }
)


@dataclass(slots=True)
class Batch:
    """Records `first` to `end` (exclusive) of the file as one `/users/track` body."""

    first: int
    end: int = 0
    end_offset: int = 0  # byte offset after the batch (exact for NDJSON; approximate for CSV)
    end_line: int = 0
    objects: dict[str, list[bytes]] = field(default_factory=lambda: {a: [] for a in ARRAYS})
    lines: dict[str, list[int]] = field(default_factory=lambda: {a: [] for a in ARRAYS})
    problems: list[tuple[int, str]] = field(default_factory=list)
    size: int = 0

    def body(self) -> bytes:
        """The JSON body: each non-empty array, its objects as read."""
        parts = [
            b'"' + name.encode() + b'":[' + b",".join(found) + b"]"
            for name, found in self.objects.items()
            if found
        ]
        return b"{" + b",".join(parts) + b"}"

    @property
    def count(self) -> int:
        """Objects to send."""
        return sum(len(found) for found in self.objects.values())


def kind_of(obj: dict[str, Any], kind: Kind) -> str:
    """The array an object belongs in."""
    if kind != "auto":
        return kind
    if "product_id" in obj:
        return "purchases"
    if "name" in obj and "time" in obj:
        return "events"
    return "attributes"


def detect_format(path: Path) -> Literal["ndjson", "csv"]:
    """`csv` for a `.csv` file, else NDJSON."""
    return "csv" if path.suffix.lower() == ".csv" else "ndjson"


def read_batches(
    path: Path,
    file_format: Literal["ndjson", "csv"],
    kind: Kind,
    batch_size: int,
    start_record: int = 0,
    start_offset: int = 0,
    start_line: int = 0,
) -> Iterator[Batch]:
    """The file's batches from a boundary (record number, and byte offset and line for NDJSON)."""
    records = (
        _ndjson_records(path, kind, start_offset, start_line)
        if file_format == "ndjson"
        else _csv_records(path, kind, start_record)
    )
    batch = Batch(first=start_record, end=start_record, end_offset=start_offset)
    for offset, line, encoded, array, problem in records:
        full = array is not None and (
            len(batch.objects[array]) >= batch_size or batch.size + len(encoded) > MAX_BODY_BYTES
        )
        if full and batch.count:
            yield batch
            batch = Batch(first=batch.end, end=batch.end, end_offset=batch.end_offset)
        if problem is not None:
            batch.problems.append((line, problem))
        elif array is not None:
            batch.objects[array].append(encoded)
            batch.lines[array].append(line)
            batch.size += len(encoded) + 1
        batch.end += 1
        batch.end_offset = offset
        batch.end_line = line
    if batch.count or batch.problems:
        yield batch


Record = tuple[int, int, bytes, str | None, str | None]  # offset after, line, json, array, problem


def _ndjson_records(path: Path, kind: Kind, offset: int, line: int) -> Iterator[Record]:
    """Non-blank lines from a byte offset, parsed enough to check them and find their kind."""
    loads = orjson.loads
    with path.open("rb") as stream:
        stream.seek(offset)
        for raw in stream:
            offset += len(raw)
            line += 1
            text = raw.strip()
            if not text:
                continue
            try:
                obj = loads(text)
            except orjson.JSONDecodeError as exc:
                yield offset, line, b"", None, f"not valid JSON: {exc}"
                continue
            if not isinstance(obj, dict):
                yield offset, line, b"", None, "not a JSON object"
                continue
            yield offset, line, text, kind if kind != "auto" else kind_of(obj, kind), None


def _csv_records(path: Path, kind: Kind, skip: int) -> Iterator[Record]:
    """CSV rows as objects (blank rows are not records), after skipping `skip` records."""
    with path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        reader = csv.reader(text)
        header = next(reader, None)
        if header is None:
            return
        columns = [name.strip() for name in header]
        ordinal = -1
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            ordinal += 1
            if ordinal < skip:
                continue
            if len(row) > len(columns):
                yield raw.tell(), reader.line_num, b"", None, "more cells than header columns"
                continue
            obj = _csv_object(columns, row)
            yield raw.tell(), reader.line_num, orjson.dumps(obj), kind_of(obj, kind), None


def _csv_object(columns: list[str], row: list[str]) -> dict[str, Any]:
    """One CSV row as a (possibly nested) object."""
    obj: dict[str, Any] = {}
    for column, cell in zip(columns, row, strict=False):
        if cell == "":
            continue
        value: Any = cell if column in _STRING_COLUMNS else _cell(cell)
        target = obj
        *parents, leaf = column.split(".")
        for parent in parents:
            nested = target.setdefault(parent, {})
            if not isinstance(nested, dict):
                nested = target[parent] = {}
            target = nested
        target[leaf] = value
    return obj


def _cell(cell: str) -> Any:
    """A cell's JSON value when it is one, else the text."""
    try:
        return orjson.loads(cell)
    except orjson.JSONDecodeError:
        return cell
