"""What the HTTP layer hands the writer for one `/users/track` request, and what it gets back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from heron.ingest.idempotency import IdempotencyKey
from heron.ingest.records import AttributeRecord, EventRecord, ObjectError, PurchaseRecord


@dataclass(slots=True)
class TrackBatch:
    """The valid objects of one request, each with its index in the request's array."""

    workspace_id: int
    time_zone: str
    now_ms: int
    attributes: list[tuple[int, AttributeRecord]] = field(default_factory=list)
    events: list[tuple[int, EventRecord]] = field(default_factory=list)
    purchases: list[tuple[int, PurchaseRecord]] = field(default_factory=list)
    # `Idempotency-Key`: with it, `render` turns the outcome into the answer stored with the key
    idempotency: IdempotencyKey | None = None
    render: Callable[[TrackOutcome], bytes] | None = None

    def size(self) -> int:
        """Number of objects, for bounding a commit group."""
        return len(self.attributes) + len(self.events) + len(self.purchases)


@dataclass(slots=True)
class TrackOutcome:
    """The result of storing one batch: objects that could not be applied, with Braze errors.

    An object is refused at write time only when it names a user that does not exist while
    update-only mode is on (`_update_existing_only`, a `user_alias` or a `braze_id`).
    """

    refused: list[ObjectError] = field(default_factory=list)
    # the stored answer of an earlier request with the same Idempotency-Key (nothing written)
    replayed: bytes | None = None
    key_reused: bool = False  # the key came with a different body: refused, nothing written
