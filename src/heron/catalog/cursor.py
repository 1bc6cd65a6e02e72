"""Opaque page cursors for `/events`-style lists, and Braze's `Link` header.

heron pages by keyset on the (case-sensitive) name, so a cursor never goes stale and a page
costs one index range scan however deep it is. A cursor is a direction letter and the
URL-safe base64 (no padding) of a boundary name: `n<b64>` = names after it, `p<b64>` = names
before it (`p` alone: the last page). Any string of that shape is a valid position, so a cursor
stays valid forever, whatever was added or removed since. For clients that build Braze's
sample cursors, base64 of `skip:<n>` (standard or URL-safe alphabet, padding optional) reads
as an offset. Anything else is a bad cursor (400).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlencode

# The shape of the cursors heron emits (also the OpenAPI pattern of the `cursor` parameter).
CURSOR_PATTERN = r"^[np](?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2,3})?$"
_KEYSET = re.compile(CURSOR_PATTERN)
_SKIP = re.compile(r"skip:([0-9]{1,18})")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page starts: after / before a name (None: the end), or at an offset."""

    direction: Literal["after", "before", "skip"]
    name: str | None = None
    skip: int = 0


def _b64(text: str) -> str:
    """URL-safe base64 of UTF-8 text, without padding."""
    return base64.urlsafe_b64encode(text.encode("utf-8")).rstrip(b"=").decode("ascii")


def after(name: str) -> str:
    """The cursor of the page that starts right after `name`."""
    return "n" + _b64(name)


def before(name: str) -> str:
    """The cursor of the page that ends right before `name`."""
    return "p" + _b64(name)


def decode(cursor: str) -> Position:
    """Read a cursor; raise ValueError when it is not one."""
    if _KEYSET.fullmatch(cursor):
        body = cursor[1:]
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        # Names never hold invalid UTF-8 or NUL; a hand-made cursor that does is still a place.
        name = raw.decode("utf-8", "replace").replace("\x00", "\ufffd")
        if cursor[0] == "n":
            return Position("after", name)
        return Position("before", name if body else None)
    if _BASE64.fullmatch(cursor):
        text = cursor.replace("+", "-").replace("/", "_").rstrip("=")
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            raw = b""
        found = _SKIP.fullmatch(raw.decode("ascii", "replace"))
        if found:
            return Position("skip", skip=int(found.group(1)))
    raise ValueError("cursor is not valid: use a cursor from this endpoint's Link header")


def link_header(path: str, params: dict[str, str], prev: str | None, next_: str | None) -> str:
    """Braze's `Link` value: relative URIs with rel="prev" then rel="next" ('' when neither)."""
    links = []
    for cursor, rel in ((prev, "prev"), (next_, "next")):
        if cursor is not None:
            links.append(f'<{path}?{urlencode({**params, "cursor": cursor})}>; rel="{rel}"')
    return ",".join(links)
