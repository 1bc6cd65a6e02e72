"""The import checkpoint: which batches of a file the server acknowledged, kept on disk.

Batches finish out of order, so the checkpoint holds a *watermark* (every record before it is
acknowledged: record number, byte offset, line) and the acknowledged batches past it. A re-run
reads from the watermark and skips the batches listed; it re-sends only batches that were in
flight when the import stopped, under the same `Idempotency-Key`, which heron answers from its
stored response without writing again. The file is rewritten (atomically, by rename) after
every acknowledgement, so a killed import loses nothing it was told.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Checkpoint", "CheckpointMismatch", "fingerprint"]

VERSION = 1
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

    @classmethod
    def load(cls, path: Path, wanted: str) -> Checkpoint:
        """The saved checkpoint for this fingerprint, or a fresh one when there is none."""
        if not path.exists():
            return cls(path, wanted)
        data = json.loads(path.read_text())
        if data.get("version") != VERSION or data.get("fingerprint") != wanted:
            raise CheckpointMismatch(
                f"{path} belongs to another file or other import settings"
                " (use --restart to import from the beginning)"
            )
        return cls(
            path,
            wanted,
            record=int(data["record"]),
            offset=int(data["offset"]),
            line=int(data["line"]),
            acked={int(k): (v[0], v[1], v[2]) for k, v in data["acked"].items()},
            counts={str(k): int(v) for k, v in data["counts"].items()},
            errors=int(data["errors"]),
            complete=bool(data["complete"]),
        )

    def acknowledge(
        self, first: int, end: int, end_offset: int, end_line: int, counts: dict[str, int]
    ) -> None:
        """Record an acknowledged batch, advance the watermark over contiguous ones, save."""
        self.acked[first] = (end, end_offset, end_line)
        for name, value in counts.items():
            self.counts[name] = self.counts.get(name, 0) + value
        while self.record in self.acked:
            self.record, self.offset, self.line = self.acked.pop(self.record)
        self.save()

    def save(self, durable: bool = False) -> None:
        """Write the checkpoint atomically (fsync when `durable`)."""
        data: dict[str, Any] = {
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
            json.dump(data, stream)
            if durable:
                stream.flush()
                os.fsync(stream.fileno())
        os.replace(temporary, self.path)
