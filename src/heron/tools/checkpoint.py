"""The import checkpoint: which batches of a file the server acknowledged, kept on disk.

Batches finish out of order, so the checkpoint holds a *watermark* (every record before it is
acknowledged: record number, byte offset, line) and the acknowledged batches past it. A re-run
reads from the watermark and skips the batches listed; it re-sends only batches that were in
flight when the import stopped, under the same `Idempotency-Key`, which heron answers from its
stored response without writing again.

On disk it is a journal of JSON lines: a snapshot line (`{"version", "fingerprint", ...}`)
followed by one line per acknowledged batch, appended (one `write`, no rename, no fsync) the
moment the answer arrives. A killed process loses nothing it was told (the page cache keeps
the line); a torn last line after a power cut is ignored, which only re-sends that batch.
`compact()` rewrites the journal as one snapshot (atomically, by rename) at the start and the
end of a run.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = ["Checkpoint", "CheckpointMismatch", "fingerprint"]

VERSION = 2
_FINGERPRINT_BYTES = 1 << 20


class CheckpointMismatch(Exception):
    """The checkpoint belongs to another file or other import settings."""


def fingerprint(path: Path, settings: str) -> str:
    """A hash of the file's first MiB and the settings that decide batch boundaries."""
    digest = hashlib.sha256(settings.encode())
    with path.open("rb") as stream:
        digest.update(stream.read(_FINGERPRINT_BYTES))
    return digest.hexdigest()


@dataclass(slots=True)
class Checkpoint:
    """Progress of one file's import (see the module docstring)."""

    path: Path
    fingerprint: str
    record: int = 0
    offset: int = 0
    line: int = 0
    acked: dict[int, tuple[int, int, int]] = field(default_factory=dict)  # first -> end, off, line
    counts: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    complete: bool = False
    _journal: IO[str] | None = None

    @classmethod
    def load(cls, path: Path, wanted: str) -> Checkpoint:
        """The saved checkpoint for this fingerprint, or a fresh one when there is none."""
        checkpoint = cls(path, wanted)
        if not path.exists():
            return checkpoint
        lines = path.read_text().splitlines()
        try:
            head = json.loads(lines[0]) if lines else {}
        except ValueError:
            head = {}
        if head.get("version") != VERSION or head.get("fingerprint") != wanted:
            raise CheckpointMismatch(
                f"{path} belongs to another file or other import settings"
                " (use --restart to import from the beginning)"
            )
        checkpoint.record, checkpoint.offset = int(head["record"]), int(head["offset"])
        checkpoint.line, checkpoint.errors = int(head["line"]), int(head["errors"])
        checkpoint.counts = {str(k): int(v) for k, v in head["counts"].items()}
        checkpoint.complete = bool(head["complete"])
        for first, batch in head["acked"].items():
            checkpoint.acked[int(first)] = (batch[0], batch[1], batch[2])
        for text in lines[1:]:
            try:
                first, end, offset, line, counts, errors = json.loads(text)
            except ValueError:
                break  # a torn last line: that batch is re-sent under its key
            checkpoint._apply(first, end, offset, line, counts, errors)
        return checkpoint

    def _apply(
        self, first: int, end: int, offset: int, line: int, counts: dict[str, int], errors: int
    ) -> None:
        """Take an acknowledgement into the state and advance the watermark."""
        self.acked[first] = (end, offset, line)
        for name, value in counts.items():
            self.counts[name] = self.counts.get(name, 0) + value
        self.errors += errors
        while self.record in self.acked:
            self.record, self.offset, self.line = self.acked.pop(self.record)

    def acknowledge(
        self,
        first: int,
        end: int,
        end_offset: int,
        end_line: int,
        counts: dict[str, int],
        errors: int = 0,
    ) -> None:
        """Record an acknowledged batch: apply it and append it to the journal at once."""
        if self._journal is None:
            self.compact()  # the snapshot of the state before this acknowledgement
        assert self._journal is not None
        self._apply(first, end, end_offset, end_line, counts, errors)
        self._journal.write(json.dumps([first, end, end_offset, end_line, counts, errors]) + "\n")

    def compact(self, durable: bool = False) -> None:
        """Rewrite the journal as one snapshot line (atomically; fsync when `durable`)."""
        self.close()
        snapshot: dict[str, Any] = {
            "version": VERSION,
            "fingerprint": self.fingerprint,
            "record": self.record,
            "offset": self.offset,
            "line": self.line,
            "acked": {str(k): list(v) for k, v in self.acked.items()},
            "counts": self.counts,
            "errors": self.errors,
            "complete": self.complete,
        }
        temporary = self.path.with_name(self.path.name + ".tmp")
        with temporary.open("w") as stream:
            stream.write(json.dumps(snapshot) + "\n")
            if durable:
                stream.flush()
                os.fsync(stream.fileno())
        os.replace(temporary, self.path)
        # Unbuffered in effect: each line goes to the kernel in one write() as it is written.
        self._journal = self.path.open("a", buffering=1)

    def close(self) -> None:
        """Close the journal (the state stays in memory)."""
        if self._journal is not None:
            self._journal.close()
            self._journal = None
