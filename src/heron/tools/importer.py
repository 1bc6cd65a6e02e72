"""`heron import`: stream a file into `/users/track` with many concurrent requests, resumably.

The file is read and cut into batches on the event loop (`heron.tools.readers`); up to
`concurrency` batches are in flight at once, each lane one connection: by default a
`heron.tools.transport.TrackLane` (raw HTTP/1.1, the client's `RetryPolicy` and exceptions),
or with `lean_transport=False` an `AsyncBraze` on httpx's own transport (proxies). Both retry
429s, 5xx and connection errors. Each batch's `Idempotency-Key` is derived from the file's
fingerprint and the batch's record range, so the same batch always carries the same key; the
checkpoint (`heron.tools.checkpoint`) records every acknowledgement. A re-run skips what was
acknowledged and re-sends the in-flight batches under their old keys: heron stores none of
them twice. Braze ignores the header, so against Braze at most the batches in flight when the
import stopped (`concurrency` x 75 objects per array) may be stored twice.

A batch that fails for good (a fatal answer, or retries exhausted) stops the import: nothing
new is sent, the requests in flight finish, the checkpoint is saved and the error is raised.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, cast

from heron.tools.checkpoint import Checkpoint, fingerprint
from heron.tools.readers import ARRAYS, Batch, Kind, read_batches
from heron.tools.transport import TrackLane
from heron_client import AsyncBraze, HeronClientError, RetryPolicy

__all__ = ["ImportFailed", "ImportOptions", "ImportResult", "LineError", "run_import"]


@dataclass(frozen=True, slots=True)
class LineError:
    """A record the server or the reader refused: its line in the file and why."""

    line: int
    input_array: str
    message: str


@dataclass(slots=True)
class ImportOptions:
    """What to import where, and how."""

    path: Path
    base_url: str
    api_key: str
    file_format: Literal["ndjson", "csv"]
    kind: Kind = "auto"
    batch_size: int = 75
    concurrency: int = 32
    checkpoint_path: Path | None = None
    restart: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float = 60.0
    lean_transport: bool = True  # heron.tools.transport; False: httpx's own (proxies, HTTP_PROXY)

    def checkpoint_file(self) -> Path:
        """Where the checkpoint lives (next to the file unless given)."""
        return self.checkpoint_path or self.path.with_name(self.path.name + ".heron-import")


@dataclass(slots=True)
class ImportResult:
    """What an import (this run and the runs it resumed) did."""

    counts: dict[str, int]
    sent_batches: int
    skipped_batches: int
    errors: list[LineError]
    resumed_from: int
    counted_before: int = 0  # objects acknowledged by earlier runs

    @property
    def counted_now(self) -> int:
        """Objects acknowledged by this run."""
        return sum(self.counts.values()) - self.counted_before


class ImportFailed(Exception):
    """The import stopped on a batch that failed for good; the checkpoint is saved."""

    def __init__(self, message: str, result: ImportResult) -> None:
        super().__init__(message)
        self.result = result


Progress = Callable[[int, dict[str, int]], None]  # (bytes advanced, counts) after each batch


class Lane(Protocol):
    """One connection that posts ready `/users/track` bodies (`TrackLane` or `AsyncBraze`)."""

    async def track_raw(self, content: bytes, *, idempotency_key: str) -> Any:
        """Post one body; the answer's JSON object, or the client's exception."""
        ...


def _settings(options: ImportOptions) -> str:
    """The settings that decide batch boundaries and keys."""
    return f"heron-import-v1|{options.file_format}|{options.kind}|{options.batch_size}"


async def run_import(options: ImportOptions, progress: Progress | None = None) -> ImportResult:
    """Import the file from its checkpoint; see the module docstring."""
    path = options.checkpoint_file()
    stamp = fingerprint(options.path, _settings(options))
    if options.restart and path.exists():
        path.unlink()
    checkpoint = Checkpoint.load(path, stamp)
    result = ImportResult({a: 0 for a in ARRAYS}, 0, 0, [], checkpoint.record)
    for name, value in checkpoint.counts.items():
        result.counts[name] = value
    result.counted_before = sum(result.counts.values())
    if checkpoint.complete:
        return result
    if progress is not None and checkpoint.offset:
        progress(checkpoint.offset, dict(result.counts))
    failure: list[HeronClientError] = []
    # One lane (one connection) per concurrent request: httpx's pool bookkeeping costs
    # O(connections) per event, which at 32 connections in one pool dominated the CPU.
    idle: asyncio.Queue[Lane] = asyncio.Queue()
    key_prefix = f"heron-import-{stamp[:32]}"
    position = [checkpoint.offset]

    def advance(batch: Batch) -> None:
        """Report progress in file bytes."""
        if progress is not None:
            moved = max(0, batch.end_offset - position[0])
            position[0] = max(position[0], batch.end_offset)
            progress(moved, dict(result.counts))

    async def send(client: Lane, batch: Batch) -> None:
        """Send one batch; acknowledge it in the checkpoint or remember the failure."""
        try:
            answer = await client.track_raw(
                batch.body(), idempotency_key=f"{key_prefix}-{batch.first}-{batch.end}"
            )
        except HeronClientError as exc:
            failure.append(exc)
            return
        finally:
            idle.put_nowait(client)
        body = cast(dict[str, Any], answer)
        counts = {a: int(body.get(f"{a}_processed") or 0) for a in ARRAYS if batch.objects[a]}
        errors = body.get("errors") or []
        for error in errors:
            _map_error(batch, error, result.errors)
        checkpoint.acknowledge(
            batch.first,
            batch.end,
            batch.end_offset,
            batch.end_line,
            counts,
            len(errors) + len(batch.problems),
        )
        for name, value in counts.items():
            result.counts[name] += value
        result.sent_batches += 1
        advance(batch)

    batches = read_batches(
        options.path,
        options.file_format,
        options.kind,
        options.batch_size,
        start_record=checkpoint.record,
        start_offset=checkpoint.offset,
        start_line=checkpoint.line,
    )
    async with contextlib.AsyncExitStack() as lanes:
        for _ in range(options.concurrency):
            idle.put_nowait(await _open_lane(options, lanes))
        tasks: set[asyncio.Task[None]] = set()
        try:
            for batch in batches:
                for line, problem in batch.problems:
                    result.errors.append(LineError(line, "", problem))
                if batch.first in checkpoint.acked:
                    result.skipped_batches += 1
                    advance(batch)
                    continue
                if not batch.count:  # only unreadable records: acknowledge locally
                    checkpoint.acknowledge(
                        batch.first,
                        batch.end,
                        batch.end_offset,
                        batch.end_line,
                        {},
                        len(batch.problems),
                    )
                    advance(batch)
                    continue
                client = await idle.get()
                if failure:
                    idle.put_nowait(client)
                    break
                task = asyncio.create_task(send(client, batch))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            checkpoint.compact(durable=True)
    if failure:
        checkpoint.close()
        raise ImportFailed(f"a batch failed, import stopped: {failure[0]}", result)
    checkpoint.complete = True
    checkpoint.compact(durable=True)
    checkpoint.close()
    result.errors.sort(key=lambda e: e.line)
    return result


async def _open_lane(options: ImportOptions, stack: contextlib.AsyncExitStack) -> Lane:
    """A lane closed with `stack`: a `TrackLane`, or an `AsyncBraze` on httpx's transport."""
    if options.lean_transport:
        lane = TrackLane(
            options.api_key, options.base_url, retry=options.retry, timeout=options.timeout
        )
        stack.push_async_callback(lane.close)
        return lane
    client = AsyncBraze(
        options.api_key,
        options.base_url,
        retry=options.retry,
        timeout=options.timeout,
        max_connections=1,
    )
    return cast(Lane, await stack.enter_async_context(client))


def _map_error(batch: Batch, error: Any, out: list[LineError]) -> None:
    """Turn a response's `{"input_array", "index", "type"}` into the record's line."""
    if not isinstance(error, dict):
        out.append(LineError(batch.end_line, "", str(error)))
        return
    array = str(error.get("input_array", ""))
    index = error.get("index")
    lines = batch.lines.get(array, [])
    line = lines[index] if isinstance(index, int) and 0 <= index < len(lines) else batch.end_line
    out.append(LineError(line, array, str(error.get("type", error))))
