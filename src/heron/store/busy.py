"""A read that could not get a consistent view in time: the caller may simply try again.

Raised by readers that re-read when concurrent writers moved data under them (the user history
on PostgreSQL, heron.users.history) and give up after a bounded number of attempts rather than
answer partially. The HTTP layer answers it with 503 (heron.http.errors), not 500: nothing is
wrong with the request or the server, the database was busy reorganising what was read.
"""

from __future__ import annotations


class StorageBusy(Exception):
    """Concurrent reorganisation kept changing what a read needed; retry later."""
