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
import operator
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import repeat
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
    cutter = _Cutter(
        batch_size, Batch(first=start_record, end=start_record, end_offset=start_offset)
    )
    if file_format == "ndjson":
        yield from _ndjson_batches(path, kind, cutter, start_offset, start_line)
    else:
        for record in _csv_records(path, kind, start_record):
            closed = cutter.add(*record)
            if closed is not None:
                yield closed
    last = cutter.batch
    if last.count or last.problems:
        yield last


class _Cutter:
    """Cuts records into batches: one record at a time, or a run of one array's records."""

    def __init__(self, batch_size: int, batch: Batch) -> None:
        self.batch_size = batch_size
        self.batch = batch

    def _close(self) -> Batch:
        """Start the next batch where the current one ends; the current one."""
        done = self.batch
        self.batch = Batch(first=done.end, end=done.end, end_offset=done.end_offset)
        return done

    def add(
        self, offset: int, line: int, encoded: bytes, array: str | None, problem: str | None
    ) -> Batch | None:
        """Add one record (or an unreadable one's problem); the batch it closed, if any."""
        batch, closed = self.batch, None
        full = array is not None and (
            len(batch.objects[array]) >= self.batch_size
            or batch.size + len(encoded) > MAX_BODY_BYTES
        )
        if full and batch.count:
            closed = self._close()
            batch = self.batch
        if problem is not None:
            batch.problems.append((line, problem))
        elif array is not None:
            batch.objects[array].append(encoded)
            batch.lines[array].append(line)
            batch.size += len(encoded) + 1
        batch.end += 1
        batch.end_offset = offset
        batch.end_line = line
        return closed

    def add_run(
        self, array: str, texts: list[bytes], first_line: int, offset: int, newline: int
    ) -> Iterator[Batch]:
        """Add consecutive lines that are all `array` objects, `first_line` the first's number
        and `offset` where it starts (`newline`: 1 if each line ends with one): the same batches
        as adding them one by one, in slices instead of a record at a time."""
        i, count = 0, len(texts)
        while i < count:
            batch = self.batch
            room = self.batch_size - len(batch.objects[array])
            if room <= 0:
                if batch.count:
                    yield self._close()
                    continue
                room = 1  # batch_size 0: one object a batch, as record by record
            part = texts[i : i + room]
            taken = sum(map(len, part))
            if batch.size + taken + len(part) - 1 > MAX_BODY_BYTES:
                # some record does not fit: the per-record rule decides where the cut falls
                for text in part:
                    offset += len(text) + newline  # a run's lines have nothing to strip
                    closed = self.add(offset, first_line + i, text, array, None)
                    if closed is not None:
                        yield closed
                    i += 1
                continue
            batch.objects[array].extend(part)
            batch.lines[array].extend(range(first_line + i, first_line + i + len(part)))
            batch.size += taken + len(part)
            offset += taken + newline * len(part)
            i += len(part)
            batch.end += len(part)
            batch.end_offset = offset
            batch.end_line = first_line + i - 1


Record = tuple[int, int, bytes, str | None, str | None]  # offset after, line, json, array, problem
_NDJSON_CHUNK = 1 << 20


def _ndjson_batches(
    path: Path, kind: Kind, cutter: _Cutter, offset: int, line: int
) -> Iterator[Batch]:
    """Cut NDJSON lines from a byte offset into batches, a chunk of lines at a time.

    A chunk of non-blank lines that each hold one JSON object of one array (the usual file)
    is parsed with one call per line and cut in slices; any other chunk (a blank or unreadable
    line, leading or trailing spaces, mixed arrays) goes record by record. Both give the same
    batches: only their cost differs.
    """
    loads = orjson.loads
    with path.open("rb") as stream:
        stream.seek(offset)
        rest = b""
        while True:
            data = stream.read(_NDJSON_CHUNK)
            if data:
                lines = (rest + data).split(b"\n")
                rest = lines.pop()
                newline = 1
            elif rest:
                lines, rest, newline = [rest], b"", 0
            else:
                return
            parsed = _parse_clean(lines, loads)
            array = None if parsed is None else _one_array(parsed, kind)
            if array is not None:
                parsed = None  # freed now, while its memory is still in the cache
                yield from cutter.add_run(array, lines, line + 1, offset, newline)
                offset += sum(map(len, lines)) + newline * len(lines)
                line += len(lines)
                continue
            for i, raw in enumerate(lines):
                offset += len(raw) + newline
                line += 1
                if parsed is None:
                    record = _ndjson_record(raw, offset, line, kind, loads)
                else:  # read already: a clean line, of another array than its neighbours
                    record = _parsed_record(parsed[i], raw, offset, line, kind)
                if record is not None:
                    closed = cutter.add(*record)
                    if closed is not None:
                        yield closed


def _parse_clean(lines: list[bytes], loads: Any) -> list[Any] | None:
    """Every line's JSON value, if each line is one with nothing around it (else None)."""
    try:
        found = list(map(loads, lines))
    except orjson.JSONDecodeError:
        return None  # a blank or unreadable line
    if list(map(bytes.strip, lines)) != lines:
        return None  # spaces around a value: the per-record path strips them
    return found


def _one_array(found: list[Any], kind: Kind) -> str | None:
    """The array every value belongs in, if all are JSON objects of one array."""
    if not found or set(map(type, found)) != {dict}:
        return None
    if kind != "auto":
        return kind
    has = operator.contains
    if (
        not any(map(has, found, repeat("product_id")))
        and all(map(has, found, repeat("name")))
        and all(map(has, found, repeat("time")))
    ):
        return "events"
    arrays = {kind_of(obj, kind) for obj in found}
    return arrays.pop() if len(arrays) == 1 else None


def _parsed_record(obj: Any, text: bytes, offset: int, line: int, kind: Kind) -> Record:
    """A line's record from its parsed value: an object's array, or why it is not one."""
    if not isinstance(obj, dict):
        return offset, line, b"", None, "not a JSON object"
    return offset, line, text, kind_of(obj, kind), None


def _ndjson_record(raw: bytes, offset: int, line: int, kind: Kind, loads: Any) -> Record | None:
    """One line as a record (None for a blank line), parsed enough to check it and find its
    array."""
    text = raw.strip()
    if not text:
        return None
    try:
        obj = loads(text)
    except orjson.JSONDecodeError as exc:
        return offset, line, b"", None, f"not valid JSON: {exc}"
    return _parsed_record(obj, text, offset, line, kind)


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
