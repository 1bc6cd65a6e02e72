"""Cursor encoding: round trips, Braze's `skip:` cursors, malformed cursors, the Link format."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heron.catalog import cursor


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=255))
def test_keyset_cursors_round_trip_and_match_the_documented_pattern(name: str) -> None:
    for made, direction in ((cursor.after(name), "after"), (cursor.before(name), "before")):
        assert re.fullmatch(cursor.CURSOR_PATTERN, made)
        position = cursor.decode(made)
        assert position.direction == direction
        if direction == "after" or name:
            assert position.name == name.replace("\x00", "\ufffd")


def test_bare_direction_letters_are_the_ends() -> None:
    assert cursor.decode("n") == cursor.Position("after", "")
    assert cursor.decode("p") == cursor.Position("before", None)


@pytest.mark.parametrize(
    ("text", "skip"),
    [("c2tpcDow", 0), ("c2tpcDoxMDA=", 100), ("c2tpcDoxMDA", 100), ("c2tpcDo1MA==", 50)],
)
def test_braze_sample_cursors_are_offsets(text: str, skip: int) -> None:
    assert cursor.decode(text) == cursor.Position("skip", skip=skip)


@given(st.text(max_size=40))
def test_any_string_decodes_or_raises_value_error(text: str) -> None:
    try:
        cursor.decode(text)
    except ValueError as exc:
        assert "cursor is not valid" in str(exc)


@pytest.mark.parametrize(
    "text",
    [
        "!!",
        "nA",  # a base64 body cannot be 1 more than a multiple of 4
        "n A",
        "x",
        base64.b64encode(b"skip:-1").decode(),
        base64.b64encode(b"skip:abc").decode(),
        base64.b64encode(b"not a cursor").decode(),
        "c2tpcDo",  # base64 of "skip:" without a number
        "nAAAA\n",
    ],
)
def test_malformed_cursors_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="cursor is not valid"):
        cursor.decode(text)


def test_link_header_is_brazes_format() -> None:
    assert cursor.link_header("/events", {}, "pA", "nB") == (
        '</events?cursor=pA>; rel="prev",</events?cursor=nB>; rel="next"'
    )
    assert cursor.link_header("/events", {}, None, "nB") == '</events?cursor=nB>; rel="next"'
    assert cursor.link_header("/x", {"status": "Trashed"}, "pA", None) == (
        '</x?status=Trashed&cursor=pA>; rel="prev"'
    )
    assert cursor.link_header("/events", {}, None, None) == ""
