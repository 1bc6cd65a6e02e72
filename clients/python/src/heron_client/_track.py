"""`/users/track` batching: any number of objects into valid requests, errors mapped back.

Braze accepts at most 75 objects per array in one request. `plan_batches` streams the caller's
three iterables into requests of up to `batch_size` attributes, events and purchases each
(the three arrays share a request, as Braze allows), remembering where each array's slice
starts, so that `TrackReport` can turn a response's `{"input_array", "index"}` into the index
in the caller's own sequence. A batch that fails as a whole (a fatal error after the retries)
reports every one of its objects, with `fatal=True`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from heron_client._errors import HeronClientError
from heron_client._types import TrackResponse

__all__ = ["MAX_OBJECTS_PER_ARRAY", "ObjectError", "TrackBatch", "TrackReport", "plan_batches"]

MAX_OBJECTS_PER_ARRAY = 75
ARRAYS = ("attributes", "events", "purchases")


@dataclass(slots=True)
class TrackBatch:
    """One request's objects and the caller's index of each array's first object."""

    number: int
    attributes: list[Mapping[str, Any]]
    events: list[Mapping[str, Any]]
    purchases: list[Mapping[str, Any]]
    starts: dict[str, int]

    def array(self, name: str) -> list[Mapping[str, Any]]:
        """The objects of one array by its Braze name."""
        found: list[Mapping[str, Any]] = getattr(self, name)
        return found

    @property
    def size(self) -> int:
        """Objects in the batch."""
        return len(self.attributes) + len(self.events) + len(self.purchases)


def plan_batches(
    attributes: Iterable[Mapping[str, Any]] | None = None,
    events: Iterable[Mapping[str, Any]] | None = None,
    purchases: Iterable[Mapping[str, Any]] | None = None,
    batch_size: int = MAX_OBJECTS_PER_ARRAY,
) -> Iterator[TrackBatch]:
    """Split the objects into batches of at most `batch_size` per array, lazily."""
    if not 1 <= batch_size <= MAX_OBJECTS_PER_ARRAY:
        raise ValueError(f"batch_size must be between 1 and {MAX_OBJECTS_PER_ARRAY}")
    sources = {
        "attributes": iter(attributes or ()),
        "events": iter(events or ()),
        "purchases": iter(purchases or ()),
    }
    starts = dict.fromkeys(ARRAYS, 0)
    for number in itertools.count():
        slices = {name: list(itertools.islice(it, batch_size)) for name, it in sources.items()}
        if not any(slices.values()):
            return
        yield TrackBatch(
            number, slices["attributes"], slices["events"], slices["purchases"], dict(starts)
        )
        for name in ARRAYS:
            starts[name] += len(slices[name])


@dataclass(frozen=True, slots=True)
class ObjectError:
    """A problem with one of the caller's objects: its array, its index there, and why."""

    input_array: str
    index: int
    type: str
    fatal: bool = False


@dataclass(slots=True)
class TrackReport:
    """What a batched track did: counts processed, requests sent, and every object's error."""

    attributes_processed: int = 0
    events_processed: int = 0
    purchases_processed: int = 0
    requests: int = 0
    errors: list[ObjectError] = field(default_factory=list)
    failures: list[HeronClientError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no object had an error and no batch failed."""
        return not self.errors and not self.failures

    def add(self, batch: TrackBatch, response: TrackResponse) -> None:
        """Count a batch's answer and map its non-fatal errors to the caller's indexes."""
        self.requests += 1
        self.attributes_processed += response.get("attributes_processed", 0)
        self.events_processed += response.get("events_processed", 0)
        self.purchases_processed += response.get("purchases_processed", 0)
        for error in response.get("errors", []):
            array = error.get("input_array", "")
            index = error.get("index")
            start = batch.starts.get(array)
            mapped = start + index if start is not None and isinstance(index, int) else -1
            self.errors.append(ObjectError(array, mapped, str(error.get("type", error))))

    def fail(self, batch: TrackBatch, error: HeronClientError) -> None:
        """Record a batch that failed as a whole: each of its objects gets the error."""
        self.requests += 1
        self.failures.append(error)
        for name in ARRAYS:
            start = batch.starts[name]
            for offset in range(len(batch.array(name))):
                self.errors.append(ObjectError(name, start + offset, str(error), fatal=True))

    def sort(self) -> None:
        """Order errors by array and index (concurrent batches finish in any order)."""
        self.errors.sort(
            key=lambda e: (ARRAYS.index(e.input_array) if e.input_array in ARRAYS else 3, e.index)
        )
