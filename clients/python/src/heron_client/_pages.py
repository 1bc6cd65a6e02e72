"""`Page`: one page of a cursor-paged list, with the `Link` header's neighbours."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx

from heron_client._base import next_link

__all__ = ["Page"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """The items of one page and the absolute URL of the next page (None on the last)."""

    items: list[T]
    next_url: str | None

    @property
    def next_cursor(self) -> str | None:
        """The `cursor` parameter of the next page, to pass back to the same method."""
        if self.next_url is None:
            return None
        values = parse_qs(urlsplit(self.next_url).query).get("cursor")
        return values[0] if values else None

    @classmethod
    def from_response(cls, response: httpx.Response, items: list[T]) -> Page[T]:
        """A page from an answer and its decoded items."""
        return cls(items, next_link(response))
