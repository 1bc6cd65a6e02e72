"""Jobs routes run on the writer thread: a storage failure answers Braze's 503, never a 500."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request

from heron.http.errors import UNAVAILABLE_MESSAGE, BrazeError
from heron.ingest.writer import StorageUnavailable

__all__ = ["run_on_writer"]

T = TypeVar("T")
log = logging.getLogger("heron.http")


async def run_on_writer(request: Request, job: Callable[[Connection], T], what: str) -> T:
    """Run `job` under the write lock (GroupCommitWriter.run); storage failures answer 503.

    Raw-cursor jobs raise the driver's own errors (sqlite3.Error), SQLAlchemy ones its
    wrappers; either way nothing was written (the job's transaction rolled back).
    """
    try:
        return await request.app.state.writer.run(job)  # type: ignore[no-any-return]
    except (StorageUnavailable, SQLAlchemyError, sqlite3.Error):
        log.exception("%s could not be stored", what)
        raise BrazeError(503, UNAVAILABLE_MESSAGE) from None
