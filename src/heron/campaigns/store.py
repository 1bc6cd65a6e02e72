"""Campaign rows: create, edit, archive, read one, list a page (SQL for `campaigns` only).

`updated_at` moves forward on every change (at least one millisecond past the previous value,
so `last_edit.time[gt]` sees two quick edits apart); `created_at` never changes.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import msgspec
from sqlalchemy import and_, insert, select, update
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.exc import IntegrityError

from heron.campaigns.definition import CampaignDefinition, encode_definition, load_definition
from heron.store.schema import campaigns

__all__ = [
    "PAGE_SIZE",
    "Campaign",
    "CampaignError",
    "create",
    "edit",
    "get",
    "new_api_id",
    "page",
    "set_archived",
]

PAGE_SIZE = 100  # Braze's /campaigns/list page


class CampaignError(Exception):
    """A refused change: HTTP status and message (404 unknown id, 409 id taken)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Campaign:
    """One stored campaign."""

    id: int
    workspace_id: int
    api_id: str
    definition: CampaignDefinition
    created_at_ms: int
    updated_at_ms: int
    first_sent_ms: int | None
    last_sent_ms: int | None


def new_api_id() -> str:
    """A fresh campaign API identifier (a UUID, as Braze's are)."""
    return str(uuid.uuid4())


def _campaign(row: Row[tuple[object, ...]]) -> Campaign:
    """A row as a Campaign."""
    mapping = row._mapping
    return Campaign(
        id=int(mapping["id"]),
        workspace_id=int(mapping["workspace_id"]),
        api_id=str(mapping["api_id"]),
        definition=load_definition(msgspec.json.decode(mapping["definition"])),
        created_at_ms=int(mapping["created_at_ms"]),
        updated_at_ms=int(mapping["updated_at_ms"]),
        first_sent_ms=mapping["first_sent_ms"],
        last_sent_ms=mapping["last_sent_ms"],
    )


# Every stored API identifier has this form (heron.campaigns.manage refuses others), so any
# other string names nothing and is never sent to the database (PostgreSQL refuses NUL).
API_ID_PATTERN = "^[A-Za-z0-9_-]{1,64}$"
_STORED_ID = re.compile(API_ID_PATTERN)


def get(conn: Connection, workspace_id: int, api_id: str) -> Campaign | None:
    """One campaign of a workspace by its API identifier."""
    if not _STORED_ID.fullmatch(api_id):
        return None
    row = conn.execute(
        select(campaigns).where(
            campaigns.c.workspace_id == workspace_id, campaigns.c.api_id == api_id
        )
    ).first()
    return None if row is None else _campaign(row)


def _require(conn: Connection, workspace_id: int, api_id: str) -> Campaign:
    """One campaign, or a 404 CampaignError."""
    found = get(conn, workspace_id, api_id)
    if found is None:
        raise CampaignError(404, f"campaign '{api_id}' does not exist")
    return found


def create(
    engine: Engine,
    workspace_id: int,
    definition: CampaignDefinition,
    now_ms: int,
    api_id: str | None = None,
) -> Campaign:
    """Store a new campaign (409 when `api_id` is taken in this workspace)."""
    api_id = api_id or new_api_id()
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(campaigns).values(
                    workspace_id=workspace_id,
                    api_id=api_id,
                    name=definition.name,
                    archived=definition.archived,
                    definition=encode_definition(definition),
                    created_at_ms=now_ms,
                    updated_at_ms=now_ms,
                )
            )
            return _require(conn, workspace_id, api_id)
    except IntegrityError:
        raise CampaignError(409, f"campaign '{api_id}' exists already") from None


def _save(
    conn: Connection, current: Campaign, definition: CampaignDefinition, now_ms: int
) -> Campaign:
    """Replace a campaign's definition, bumping `updated_at`."""
    conn.execute(
        update(campaigns)
        .where(campaigns.c.id == current.id)
        .values(
            name=definition.name,
            archived=definition.archived,
            definition=encode_definition(definition),
            updated_at_ms=max(now_ms, current.updated_at_ms + 1),
        )
    )
    return _require(conn, current.workspace_id, current.api_id)


def edit(
    engine: Engine, workspace_id: int, api_id: str, definition: CampaignDefinition, now_ms: int
) -> Campaign:
    """Replace a campaign's definition (404 when unknown)."""
    with engine.begin() as conn:
        return _save(conn, _require(conn, workspace_id, api_id), definition, now_ms)


def set_archived(
    engine: Engine, workspace_id: int, api_id: str, archived: bool, now_ms: int
) -> Campaign:
    """Archive or unarchive a campaign (an edit: `updated_at` moves)."""
    with engine.begin() as conn:
        current = _require(conn, workspace_id, api_id)
        changed = msgspec.structs.replace(current.definition, archived=archived)
        return _save(conn, current, changed, now_ms)


def page(
    conn: Connection,
    workspace_id: int,
    number: int,
    *,
    include_archived: bool = False,
    newest_first: bool = False,
    edited_after_ms: int | None = None,
    size: int = PAGE_SIZE,
) -> list[Campaign]:
    """Page `number` (from 0) of a workspace's campaigns ordered by creation time."""
    conditions = [campaigns.c.workspace_id == workspace_id]
    if not include_archived:
        conditions.append(campaigns.c.archived.is_(False))
    if edited_after_ms is not None:
        conditions.append(campaigns.c.updated_at_ms > edited_after_ms)
    order = (campaigns.c.created_at_ms, campaigns.c.id)
    query = (
        select(campaigns)
        .where(and_(*conditions))
        .order_by(*(column.desc() for column in order) if newest_first else order)
        .limit(size)
        .offset(number * size)
    )
    return [_campaign(row) for row in conn.execute(query)]
