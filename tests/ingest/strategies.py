"""Hypothesis strategies and a raw JSON writer for bodies Python's json module can't express."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

__all__ = [
    "NASTY_SNIPPETS",
    "NONFINITE_TOKENS",
    "SURROGATE_STRINGS",
    "JObject",
    "Raw",
    "compact_size",
    "huge_integer",
    "json_scalars",
    "nasty_text",
    "sized_string_list",
    "to_json",
]


@dataclass(frozen=True)
class Raw:
    """JSON text written verbatim: `NaN`, `1e999`, `"\\ud800"`, a 5,000-digit integer, ..."""

    text: str


@dataclass(frozen=True)
class JObject:
    """A JSON object as ordered key/value pairs; keys may repeat (a parser keeps the last)."""

    pairs: tuple[tuple[str | Raw, Any], ...]

    def effective(self) -> dict[str | Raw, Any]:
        """The pairs after last-one-wins, in first-occurrence order (how dict parsers read it)."""
        out: dict[str | Raw, Any] = {}
        for key, value in self.pairs:
            out[key] = value
        return out


def to_json(value: Any, *, ascii_only: bool = False) -> str:
    """Write `value` as JSON text; `Raw` and `JObject` (duplicate keys) are written as given."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, JObject):
        return _object(value.pairs, ascii_only)
    if isinstance(value, dict):
        return _object(tuple(value.items()), ascii_only)
    if isinstance(value, list | tuple):
        return "[" + ",".join(to_json(item, ascii_only=ascii_only) for item in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only, allow_nan=False)


def _object(pairs: tuple[tuple[str | Raw, Any], ...], ascii_only: bool) -> str:
    """Write object pairs in order, keeping duplicates."""
    parts = [
        f"{to_json(key, ascii_only=ascii_only)}:{to_json(item, ascii_only=ascii_only)}"
        for key, item in pairs
    ]
    return "{" + ",".join(parts) + "}"


def compact_size(value: Any) -> int:
    """Bytes of `value` as compact UTF-8 JSON (what the server measures nested payloads in)."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def sized_string_list(size: int, chunk: int = 250) -> list[str]:
    """ASCII strings (each at most `chunk` characters) whose compact JSON list is `size` bytes."""
    if size < 4:
        raise ValueError("size must be at least 4 bytes")
    count = -(-(size - 1) // (chunk + 3))  # `[` + items of 2 quotes and 1 comma each, minus one
    letters = size - 1 - 3 * count
    items: list[str] = []
    for _ in range(count):
        items.append("x" * min(chunk, letters))
        letters -= len(items[-1])
    assert compact_size(items) == size, (size, compact_size(items))
    return items


def huge_integer(digits: int, negative: bool = False) -> Raw:
    """An integer literal with `digits` digits (past Python's 4,300-digit str() limit too)."""
    return Raw(("-" if negative else "") + "9" * digits)


NONFINITE_TOKENS = ("NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1E400", "2e308")
# JSON text for strings holding an unpaired surrogate: not representable in UTF-8.
SURROGATE_STRINGS = (
    '"\\ud800"',
    '"\\udfff"',
    '"a\\udc00b"',
    '"\\ud83d"',
    '"\\ud83d\\u0041"',
    '"\\ude00\\ud83d"',
)
# Text that trips up encoders, collations and length checks: astral emoji, ZWJ sequences,
# combining marks, RTL and bidi controls, BOM/zero-width characters, escapes, case oddities.
NASTY_SNIPPETS = (
    "\U0001f600",
    "\U0001f469\u200d\U0001f469\u200d\U0001f467",
    "\U0001f3f3\ufe0f\u200d\U0001f308",
    "e\u0301",
    "Z\u0351\u0362\u0334\u0337\u0335",
    "\u0645\u0631\u062d\u0628\u0627",
    "\u05e9\u05dc\u05d5\u05dd",
    "\u202eabc\u202c",
    "\u200f",
    "\ufeff",
    "\u200b",
    "\u2028",
    "\u2029",
    "\U0010ffff",
    "\uffff",
    "\ufffd",
    "\U0001d573",
    "\u00df",
    "\u0130",
    "\u01c5",
    "\u3042",
    "\\",
    '"',
    "'",
    "\n",
    "\t",
    "\x7f",
    "\x1b",
    "%s%n",
    "</script>",
    "' OR 1=1 --",
    "null",
    " ",
)


def nasty_text(max_size: int, *, nul: bool = False) -> st.SearchStrategy[str]:
    """Strings of up to `max_size` code points mixing nasty snippets and arbitrary characters."""
    banned = "" if nul else "\x00"
    pieces = st.one_of(
        st.sampled_from(NASTY_SNIPPETS),
        st.text(st.characters(exclude_categories=["Cs"], exclude_characters=banned), max_size=4),
    )
    text = st.lists(pieces, max_size=8).map("".join).map(lambda s: s[:max_size])
    if nul:
        text = st.tuples(text, text).map(lambda ab: (ab[0] + "\x00" + ab[1])[:max_size])
    return text


def json_scalars() -> st.SearchStrategy[Any]:
    """JSON scalars a server must store as sent: int64 edges, extreme floats, bools, null, text."""
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.sampled_from([0, -1, 2**53 + 1, 2**63 - 1, -(2**63)]),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from([1e308, -1e308, 1.7976931348623157e308, 5e-324, -0.0, 0.1]),
        nasty_text(40),
    )
