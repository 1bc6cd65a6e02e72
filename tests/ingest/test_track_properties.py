"""Property-based tests of `POST /users/track`: generated bodies, valid or not, against storage.

Every generated object carries a marker (`hm` + 13 hex digits, fresh per request) in its event
name, product_id or a custom attribute key, so whatever the server stores can be traced back to
the object it came from. Each object is built valid and then, optionally, broken by one known
mutation, so the test knows by construction whether it must be stored or reported in `errors`.
"""

from __future__ import annotations

import enum
import json
import re
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, Phase, currently_in_test_context, event, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine
from starlette.testclient import TestClient
from strategies import (
    NONFINITE_TOKENS,
    SURROGATE_STRINGS,
    JObject,
    Raw,
    huge_integer,
    json_scalars,
    nasty_text,
    sized_string_list,
    to_json,
)

from conftest import Workspace, auth
from heron.store.schema import (
    custom_attributes,
    custom_events,
    events,
    products,
    purchases,
    user_aliases,
    users,
)

ArrayName = Literal["attributes", "events", "purchases"]
ARRAYS: tuple[ArrayName, ...] = ("attributes", "events", "purchases")
Pair = tuple[Any, Any]

M = "hm" + "@" * 13  # replaced in the request text by a fresh marker of the same length
MARKER = re.compile(r"hm[0-9a-f]{13}")
SEED_EXTERNAL_ID = "seed-user"
SEED_ALIAS = {"alias_name": "seed-name", "alias_label": "seed-label"}
SEED_BRAZE = "%SEED-BRAZE-ID%"  # replaced by the seed user's braze_id
APP = "%APP-ID%"  # replaced by the workspace's app identifier
USER_NOT_FOUND = "no user matches the identifier and '_update_existing_only' is true"
INVALID_PROPERTIES = "Invalid 'properties' field"
EVENT_NESTED_LIMIT = 102_400  # spec §4: 100 KB of nested property JSON per event
PURCHASE_NESTED_LIMIT = 51_200  # spec §4: the purchase object page still says 50 KB
ATTRIBUTE_NESTED_LIMIT = 102_400  # nested custom attributes: 100 KB
# No shrinking: every shrink step is a committed request, far too slow on this machine. A failure
# instead names the objects involved, and a 5xx is narrowed down to single-object bodies.
SETTINGS = settings(
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class Fate(enum.Enum):
    """What must happen to one object of a 201 response."""

    STORED = "stored"
    REFUSED = "refused"  # reported in `errors`, nothing stored


class _Drop:
    """Sentinel: remove the key."""

    def __repr__(self) -> str:
        """Show as DROP in falsifying examples."""
        return "DROP"


DROP = _Drop()


@dataclass(frozen=True)
class Mutation:
    """One change to a valid object: set `key` to `value` (or drop it)."""

    why: str
    key: str
    value: Any
    error: str | None = None  # the expected start of the error message
    may_fail_body: bool = False  # the decoder may refuse the whole body (400) instead


@dataclass(frozen=True)
class Blueprint:
    """A generated object, the fate it must meet and what storage must then hold."""

    array: ArrayName
    value: Any
    fate: Fate
    why: tuple[str, ...] = ()
    error: str | None = None
    time_ms: int | None = None
    owner: str | None = None  # external_id the stored row must belong to
    may_fail_body: bool = False


@dataclass(frozen=True)
class Ident:
    """Identifier pairs of an object and what they make of it."""

    pairs: tuple[Pair, ...]
    fate: Fate
    why: str
    kind: str
    owner: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Part:
    """A generated piece (properties, a field) with its own effect on the object's fate."""

    pairs: tuple[Pair, ...]
    fate: Fate = Fate.STORED
    why: str = ""
    error: str | None = None
    may_fail_body: bool = False


@dataclass(frozen=True)
class BodyPlan:
    """A request body: top-level pairs whose array values are tuples of blueprints."""

    pairs: tuple[Pair, ...]
    ascii_only: bool


@dataclass
class Sent:
    """One object as sent: its marker, text and blueprint."""

    array: ArrayName
    index: int
    marker: str
    text: str
    blueprint: Blueprint
    effective: Any = None


@dataclass
class Rendered:
    """A rendered request and what it implies."""

    body: bytes
    statuses: set[int]
    sent_arrays: set[ArrayName]
    objects: list[Sent] = field(default_factory=list)
    ghosts: list[str] = field(default_factory=list)  # markers that must never be stored


@dataclass(frozen=True)
class Seed:
    """The workspace plus a known user (external_id, braze_id) and a known alias-only user."""

    key: str
    app_id: str
    app_key: int
    braze_id: str


# -- generic pieces ---------------------------------------------------------------------------


def _fate(*fates: Fate) -> Fate:
    """Combine fates: any refusal wins."""
    return Fate.REFUSED if Fate.REFUSED in fates else Fate.STORED


def _set(pairs: tuple[Pair, ...], key: str, value: Any) -> tuple[Pair, ...]:
    """Replace every occurrence of `key` by one `value` pair at the first position (or append)."""
    out: list[Pair] = []
    done = False
    for k, v in pairs:
        if k == key:
            if not done and value is not DROP:
                out.append((key, value))
            done = True
        else:
            out.append((k, v))
    if not done and value is not DROP:
        out.append((key, value))
    return tuple(out)


def nest(depth: int, leaf: Any = 1) -> Any:
    """`depth` levels of arrays around `leaf` (the outermost array is level 1)."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def nest_objects(depth: int, leaf: Any = 1) -> Any:
    """`depth` levels of objects `{"k": ...}` around `leaf`."""
    value = leaf
    for _ in range(depth):
        value = {"k": value}
    return value


def raw_nest(depth: int) -> Raw:
    """`depth` levels of arrays as raw text (too deep for recursive writers)."""
    return Raw("[" * depth + "1" + "]" * depth)


def _epoch_ms(naive_utc: datetime) -> int:
    """UTC epoch milliseconds of a naive UTC datetime, floored."""
    delta = naive_utc - datetime(1970, 1, 1)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


@st.composite
def valid_times(draw: st.DrawFn) -> tuple[str, int]:
    """A `time` string in one of the accepted shapes, and its UTC epoch milliseconds."""
    moment = draw(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 12, 31)))
    shape = draw(st.sampled_from(["iso", "iso", "braze", "date"]))
    date = moment.strftime("%Y-%m-%d")
    if shape == "date":
        return date, _epoch_ms(datetime(moment.year, moment.month, moment.day))
    offset = draw(st.one_of(st.none(), st.integers(-14 * 60, 14 * 60)))
    if offset is None:
        zone = draw(st.sampled_from(["", "Z", "z"]))
        offset = 0
    else:
        sign = "-" if offset < 0 else "+"
        hours, minutes = divmod(abs(offset), 60)
        forms = [f"{sign}{hours:02d}:{minutes:02d}", f"{sign}{hours:02d}{minutes:02d}"]
        if minutes == 0:
            forms.append(f"{sign}{hours:02d}")
        zone = draw(st.sampled_from(forms))
    if shape == "braze":  # yyyy-MM-dd'T'HH:mm:ss:SSSZ
        if len(zone) == 3:
            zone = zone + "00"
        moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        text = f"{date}T{moment:%H:%M:%S}:{moment.microsecond // 1000:03d}{zone}"
    else:
        sep = draw(st.sampled_from(["T", "T", "t", " "]))
        precision = draw(st.sampled_from(["minutes", "seconds", "millis", "micros", "nanos"]))
        if precision == "minutes":
            moment = moment.replace(second=0, microsecond=0)
            clock = f"{moment:%H:%M}"
        elif precision == "seconds":
            moment = moment.replace(microsecond=0)
            clock = f"{moment:%H:%M:%S}"
        elif precision == "millis":
            moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
            clock = f"{moment:%H:%M:%S}.{moment.microsecond // 1000:03d}"
        else:
            clock = f"{moment:%H:%M:%S.%f}" + ("987" if precision == "nanos" else "")
        text = f"{date}{sep}{clock}{zone}"
    return text, _epoch_ms(moment - timedelta(minutes=offset))


BAD_TIMES = [
    "",
    "now",
    "yesterday",
    "2024-13-01T00:00:00Z",
    "2024-02-30",
    "2024-01-01T24:00:01Z",
    "2024-01-01T23:59:60Z",
    "20240101T000000Z",
    "2024-W01-1",
    "2024-001",
    "01/02/2024",
    "Wed 07 16 19:20:30.000 +0100 2013",
    "2024-01-01T00:00:00+25:00",
    "2024-01-01X00:00:00",
    "0000-01-01T00:00:00Z",
    " 2024-01-01",
    "2024-01-01T00:00:00Z ",
    "2024-01-01T00:00:00:12Z",
    "2024-1-01",
    "2024-01-01T1:00",
    "\uff11\uff19\uff19\uff10-01-01",
    "\u0662\u0660\u0662\u0664-01-01",
    "2024-01-01\x00",
]
JUNK = [0, -1, 1.5, True, False, [], {}, ["x"], {"a": 1}]
NOT_STRINGS = [0, 1.5, True, [], {}, ["x"], {"a": "b"}]


def _time_mutations() -> list[Mutation]:
    """Ways to break `time`."""
    out = [
        Mutation("no time", "time", DROP, "'time' is required"),
        Mutation("null time", "time", None, "'time' is required"),
    ]
    out += [Mutation(f"time {v!r}", "time", v, "'time' must be a string") for v in NOT_STRINGS]
    out += [Mutation("epoch time", "time", 1_700_000_000, "'time' must be a string")]
    out += [Mutation(f"time {v!r}", "time", v, "'time'") for v in BAD_TIMES]
    return out


def _app_mutations() -> list[Mutation]:
    """Ways to break `app_id`."""
    out = [
        Mutation("unknown app_id", "app_id", "app-" + M, "'app_id'"),
        Mutation("empty app_id", "app_id", "", "'app_id'"),
    ]
    return out + [Mutation(f"app_id {v!r}", "app_id", v, "'app_id' must be") for v in NOT_STRINGS]


def _name_mutations(key: str) -> list[Mutation]:
    """Ways to break `name` or `product_id`."""
    out = [
        Mutation(f"no {key}", key, DROP, f"'{key}' is required"),
        Mutation(f"null {key}", key, None, f"'{key}' is required"),
        Mutation(f"empty {key}", key, "", f"'{key}' must not be empty"),
        Mutation(f"256-char {key}", key, M + "x" * 241, f"'{key}' must be at most"),
        Mutation(f"256-emoji {key}", key, M + "\U0001f600" * 241, f"'{key}' must be at most"),
        Mutation(f"NUL in {key}", key, M + "a\x00b", f"'{key}' must not contain NUL"),
    ]
    return out + [Mutation(f"{key} {v!r}", key, v, f"'{key}' must be a string") for v in JUNK]


EVENT_MUTATIONS = _name_mutations("name") + _time_mutations() + _app_mutations()
PURCHASE_MUTATIONS = (
    _name_mutations("product_id")
    + _time_mutations()
    + _app_mutations()
    + [
        Mutation("no currency", "currency", DROP, "'currency' is required"),
        Mutation("null currency", "currency", None, "'currency' is required"),
        *(Mutation(f"currency {v!r}", "currency", v, "'currency' must be a string") for v in JUNK),
        *(
            Mutation(f"currency {v!r}", "currency", v, "'currency' must be an ISO 4217")
            for v in [
                "XXY",
                "US",
                "USDD",
                "",
                "ANG",
                "usd ",
                "\uff35\uff33\uff24",
                "U$D",
                "\u0130SK",
            ]
        ),
        Mutation("no price", "price", DROP, "'price' is required"),
        Mutation("null price", "price", None, "'price' is required"),
        *(
            Mutation(f"price {v!r}", "price", v, "'price' must be a number")
            for v in [True, False, "1.5", "1", [1], {"a": 1}]
        ),
        *(
            Mutation(f"price {v!r}", "price", v, "'price' must be a finite")
            for v in [1e308, -1e308, 1.7976931348623157e308, 1e15 + 1, -(10**15) - 1, 2**63]
        ),
        Mutation("400-digit price", "price", huge_integer(400), "'price' must be a finite"),
        Mutation("-400-digit price", "price", huge_integer(400, True), "'price' must be a finite"),
        Mutation("5000-digit price", "price", huge_integer(5000), "'price'", may_fail_body=True),
        *(
            Mutation(f"quantity {v!r}", "quantity", v, "'quantity' must be between")
            for v in [0, 101, -1, 2**64, -(2**70)]
        ),
        *(
            Mutation(f"quantity {v!r}", "quantity", v, "'quantity' must be an integer")
            for v in [1.0, 2.5, True, "2", [2], {"q": 2}]
        ),
    ]
)


# -- identifiers --------------------------------------------------------------------------------

_FLAG_VALUES = st.sampled_from(
    [(), (("_update_existing_only", False),), (("_update_existing_only", None),)]
)
_ANY_FLAG = st.sampled_from([(), *((("_update_existing_only", v),) for v in (True, False, None))])
_BAD_ALIASES = [
    "alias",
    1,
    [],
    {},
    {"alias_name": "n"},
    {"alias_label": "l"},
    {"alias_name": "", "alias_label": "l"},
    {"alias_name": "n", "alias_label": ""},
    {"alias_name": 1, "alias_label": "l"},
    {"alias_name": "n", "alias_label": None},
    {"alias_name": "n" * 513, "alias_label": "l"},
]


def _ident(pairs: tuple[Pair, ...], why: str, error: str | None = None) -> Ident:
    """A refused identifier case; its kind is its strongest key."""
    keys = [k for k, v in pairs if v is not None and k != "_update_existing_only"]
    return Ident(pairs, Fate.REFUSED, why, keys[0] if keys else "none", error=error)


def bad_identifiers(array: ArrayName) -> list[Ident]:
    """Identifier cases that must get the object refused (in validation or when stored)."""
    out = [
        _ident((), "no identifier", "'external_id', 'braze_id', 'user_alias', 'email' or 'phone'"),
        _ident((("external_id", None), ("braze_id", None)), "null identifiers", "'external_id'"),
        _ident(
            (("external_id", "x" + M + "y" * 497),),
            "513-char external_id",
            "'external_id' must be at most 512",
        ),
        _ident(
            (("email", "no-at-sign-" + M),),
            "email without @",
            "'email' is not a valid email address",
        ),
        _ident((("braze_id", "b" + M + "0" * 8),), "unknown braze_id", USER_NOT_FOUND),
        _ident((("email", M + "@" + "e" * 240),), "256-char email", "'email' must be at most"),
        _ident(
            (("user_alias", {"alias_name": "a" + M + "n" * 240, "alias_label": "l"}),),
            "256-char alias name",
            "'user_alias' name and label must be at most",
        ),
        _ident(
            (("external_id", "x" + M), ("_update_existing_only", True)),
            "update-only new external_id",
            USER_NOT_FOUND,
        ),
        _ident(
            (("email", M + "@example.com"), ("_update_existing_only", True)),
            "update-only new email",
            USER_NOT_FOUND,
        ),
        _ident(
            (("user_alias", {"alias_name": "a" + M + "\x00", "alias_label": "l"}),),
            "NUL in alias",
            "'user_alias'",
        ),
    ]
    for key in ("external_id", "braze_id", "email", "phone"):
        out += [
            _ident(((key, v),), f"{key} {v!r}", f"'{key}' must be a non-empty string")
            for v in [*NOT_STRINGS, ""]
        ]
        out.append(
            _ident(((key, "x" + M + "\x00@"),), f"NUL in {key}", f"'{key}' must not contain NUL")
        )
    out += [_ident((("user_alias", v),), f"alias {v!r}", "'user_alias'") for v in _BAD_ALIASES]
    out += [
        _ident(
            (("external_id", SEED_EXTERNAL_ID), ("_update_existing_only", v)),
            f"_update_existing_only {v!r}",
            "'_update_existing_only' must be a boolean",
        )
        for v in ["true", 1, 0, "false", [], {}]
    ]
    new_alias = {"alias_name": "a" + M, "alias_label": "l"}
    if array == "attributes":  # only an attributes object with the flag false creates an alias
        out += [
            _ident((("user_alias", new_alias),), "new alias", USER_NOT_FOUND),
            _ident(
                (("user_alias", new_alias), ("_update_existing_only", True)),
                "new alias, update-only",
                USER_NOT_FOUND,
            ),
            _ident(
                (
                    ("user_alias", {**new_alias, "alias_label": "l\x00"}),
                    ("_update_existing_only", False),
                ),
                "NUL in new alias",
                "'user_alias'",
            ),
        ]
    else:
        out += [
            _ident((("user_alias", new_alias), *flag), f"new alias {flag}", USER_NOT_FOUND)
            for flag in [(), *((("_update_existing_only", v),) for v in (True, False))]
        ]
    return out


def long_phones() -> list[Ident]:
    """Phones past the 64 digits heron once stored them in (identifiers allow 512 characters)."""
    return [
        Ident((("phone", "+" + "1" * n),), Fate.STORED, f"{n}-digit phone", "phone")
        for n in (63, 64, 65, 254, 511)
    ]


def identifiers(array: ArrayName, broken: bool) -> st.SearchStrategy[Ident]:
    """Identifier pairs for an object of `array`: valid, or refused for a known reason."""
    if broken:
        return st.sampled_from(bad_identifiers(array))
    stored = Fate.STORED
    fresh = nasty_text(40).map(lambda s: "x" + M + s)
    valid = [
        st.builds(
            lambda ext, flag: Ident(
                (("external_id", ext), *flag), stored, "new external_id", "external_id", owner=ext
            ),
            fresh,
            _FLAG_VALUES,
        ),
        st.just(
            Ident(
                (("external_id", "x" + M + "y" * 496),),
                stored,
                "512-char external_id",
                "external_id",
                owner="x" + M + "y" * 496,
            )
        ),
        _ANY_FLAG.map(
            lambda flag: Ident(
                (("external_id", SEED_EXTERNAL_ID), *flag),
                stored,
                "known external_id",
                "external_id",
                owner=SEED_EXTERNAL_ID,
            )
        ),
        _ANY_FLAG.map(
            lambda flag: Ident(
                (("braze_id", SEED_BRAZE), *flag),
                stored,
                "known braze_id",
                "braze_id",
                owner=SEED_EXTERNAL_ID,
            )
        ),
        _ANY_FLAG.map(
            lambda flag: Ident(
                (("user_alias", SEED_ALIAS), *flag), stored, "known alias", "user_alias"
            )
        ),
        st.builds(
            lambda domain, flag: Ident(
                (("email", M + "@" + domain), *flag), stored, "new email", "email"
            ),
            nasty_text(30),
            _FLAG_VALUES,
        ),
        st.builds(
            lambda digits: Ident((("phone", "+1 (555) " + digits),), stored, "phone", "phone"),
            st.text("0123456789", min_size=1, max_size=12),
        ),
        st.sampled_from(long_phones()),
        st.just(Ident((("email", M + "@" + "e" * 239),), stored, "255-char email", "email")),
    ]
    if array == "attributes":
        valid.append(
            st.builds(
                lambda name, label: Ident(
                    (
                        ("user_alias", {"alias_name": "a" + M + name, "alias_label": label}),
                        ("_update_existing_only", False),
                    ),
                    stored,
                    "new alias, create",
                    "user_alias",
                ),
                st.one_of(nasty_text(20), st.just("n" * 239)),  # up to 255 characters
                st.one_of(nasty_text(19).map("l".__add__), st.just("l" * 255)),
            )
        )
    else:  # a valid strong identifier hides junk in the weaker ones (events/purchases only)
        valid.append(
            st.builds(
                lambda ext, weaker: Ident(
                    (("external_id", ext), *weaker),
                    stored,
                    "external_id beats junk",
                    "external_id",
                    owner=ext,
                ),
                fresh,
                st.lists(
                    st.tuples(
                        st.sampled_from(["braze_id", "user_alias", "email", "phone"]),
                        st.sampled_from(JUNK),
                    ),
                    max_size=3,
                    unique_by=lambda p: p[0],
                ),
            )
        )
    return st.one_of(*valid)


# -- properties -------------------------------------------------------------------------------

_PROPERTY_KEYS = st.one_of(
    st.sampled_from(
        [
            "a",
            "Time",
            "TIME",
            "EVENT_NAME",
            "event_name ",
            " time",
            "k.e.y",
            "with space",
            "x$",
            "k" * 255,
            "\u00e9" * 255,
            "\U0001f600" * 255,
            "0",
            "null",
            "__proto__",
        ]
    ),
    st.tuples(
        st.sampled_from(["k", "\u00e9", "\U0001f600", " ", "0", "\u202e", "_"]), nasty_text(29)
    ).map("".join),
)
_NESTED = st.recursive(
    st.one_of(json_scalars(), st.text(max_size=300)),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)
_PROPERTY_VALUES = st.one_of(
    json_scalars(),
    json_scalars(),
    st.sampled_from(
        [
            "x" * 255,
            "\U0001f600" * 255,
            "e\u0301" * 127,
            "2024-01-01T00:00:00Z",
            "01/02/2024",
            "Wed 07 16 19:20:30.000 +0100 2013",
            "1999-12-31",
            "Mon",
            "",
            "a\x00b",
            2**63 - 1,
            -(2**63),
            1e308,
            {"time": 1, "event_name": 2, "$x": 3, "": 4},
            ["x" * 1000],
        ]
    ),
    st.lists(_NESTED, max_size=3),
    st.dictionaries(st.text(max_size=6), _NESTED, max_size=3),
)


def _bad_property_values(limit: int) -> list[tuple[str, Any, bool]]:
    """(why, value, may_fail_body) for property values that make the object invalid."""
    return [
        ("256-char string", "x" * 256, False),
        ("256-emoji string", "\U0001f600" * 256, False),
        ("int64 max + 1", 2**63, False),
        ("int64 min - 1", -(2**63) - 1, False),
        ("10**30", 10**30, False),
        ("400-digit integer", huge_integer(400), False),
        ("-4000-digit integer", huge_integer(4000, True), False),
        ("-4300-digit integer", huge_integer(4300, True), True),
        ("5000-digit integer", huge_integer(5000), True),
        ("nested 2**64", [1, 2**64], False),
        ("nested 10**20", {"a": [10**20]}, False),
        ("51 nested arrays", nest(51), False),
        ("51 nested objects", nest_objects(51), False),
        ("200 nested arrays", raw_nest(200), False),
        ("1,000 nested arrays", raw_nest(1000), True),
        ("100,000 nested arrays", raw_nest(100_000), True),
        ("nested payload over the limit", sized_string_list(limit + 1), False),
    ]


def boundary_properties(limit: int) -> list[tuple[str, Any]]:
    """Valid `properties` right at a limit (or past one that does not apply there)."""
    return [
        ("255-emoji value", {"s": "\U0001f600" * 255}),
        ("255-char key", {"k" * 255: 1, "\u00e9" * 255: 2}),
        ("50 nested arrays", {"d": nest(50)}),
        ("50 nested objects", {"o": nest_objects(50)}),
        ("nested payload at the limit", {"big": sized_string_list(limit), "n": 1}),
        ("int64 edges", {"max": 2**63 - 1, "min": -(2**63)}),
        ("extreme floats", {"a": 1e308, "b": -1e308, "c": 5e-324, "d": -0.0}),
        ("reserved names nested", {"n": {"time": 1, "event_name": [2]}}),
        ("reserved names in other case", {"Time": 1, "EVENT_NAME": 2, "time ": 3}),
        ("NUL in values", {"s": "a\x00b", "n": {"\x00": ["\x00"]}}),
        ("long nested string", {"l": ["x" * 1000]}),
        (
            "257+ properties, extras unchecked",
            JObject(
                (*((f"p{i}", i) for i in range(256)), ("$x", 1), ("time", 2), ("s", "x" * 300))
            ),
        ),
    ]


_BAD_PROPERTY_KEYS = [
    ("$-prefixed key", "$price", None),
    ("$ key", "$", None),
    ("reserved key time", "time", INVALID_PROPERTIES),
    ("reserved key event_name", "event_name", INVALID_PROPERTIES),
    ("empty key", "", None),
    ("256-char key", "k" * 256, None),
    ("256-emoji key", "\U0001f600" * 256, None),
]
_NON_OBJECT_PROPERTIES = [[], [{"a": 1}], "x", "", 0, 1.5, True, False]


@st.composite
def properties_part(draw: st.DrawFn, limit: int, broken: bool) -> Part:
    """The `properties` of an event or purchase: absent, valid, boundary, invalid, uncertain."""
    valid = ["absent", "null", "empty", "plain", "plain", "boundary", "shadowed"]
    shape = draw(
        st.sampled_from(["bad", "bad", "bad-key", "non-object", "nul-key"] if broken else valid)
    )
    good = draw(st.lists(st.tuples(_PROPERTY_KEYS, _PROPERTY_VALUES), max_size=4))
    good = [(k, v) for k, v in good if k != "p"]
    if shape == "absent":
        return Part(())
    if shape == "null":
        return Part((("properties", None),))
    if shape == "empty":
        return Part((("properties", {}),))
    if shape == "plain":  # keys may repeat: the last value wins
        return Part((("properties", JObject(tuple(good))),), why="properties")
    if shape == "boundary":
        why, value = draw(st.sampled_from(boundary_properties(limit)))
        return Part((("properties", value),), why=why)
    if shape in ("bad", "shadowed"):
        why, bad, may_fail = draw(st.sampled_from(_bad_property_values(limit)))
        shadowed = shape == "shadowed"
        pairs: list[Pair] = [*good, ("p", bad)]
        if shadowed:  # a later duplicate key replaces the bad value
            pairs.append(("p", draw(json_scalars())))
        pairs = draw(st.permutations(pairs)) if not shadowed else pairs
        return Part(
            (("properties", JObject(tuple(pairs))),),
            Fate.STORED if shadowed else Fate.REFUSED,
            why + (" (shadowed)" if shadowed else ""),
            None if shadowed else INVALID_PROPERTIES,
            may_fail,
        )
    if shape == "bad-key":
        why, key, exact = draw(st.sampled_from(_BAD_PROPERTY_KEYS))
        pairs = draw(st.permutations([*good, (key, draw(json_scalars()))]))
        return Part(
            (("properties", JObject(tuple(pairs))),), Fate.REFUSED, why, exact or INVALID_PROPERTIES
        )
    if shape == "non-object":
        value = draw(st.sampled_from(_NON_OBJECT_PROPERTIES))
        return Part(
            (("properties", value),), Fate.REFUSED, f"properties {value!r}", INVALID_PROPERTIES
        )
    key = draw(st.sampled_from(["\x00", "a\x00", "\x00b"]))  # catalog names can't hold NUL
    return Part(
        (("properties", JObject(((key, 1), *good))),),
        Fate.REFUSED,
        "NUL in key",
        INVALID_PROPERTIES,
    )


# -- objects ------------------------------------------------------------------------------------


def _mutate(
    pairs: tuple[Pair, ...], mutation: Mutation, mode: str
) -> tuple[tuple[Pair, ...], bool]:
    """Apply a mutation; return the pairs and whether it is in effect (not shadowed)."""
    present = any(key == mutation.key for key, _ in pairs)
    if mutation.value is DROP or not present:
        return _set(pairs, mutation.key, mutation.value), True
    if mode == "dup_before":  # the good value comes later and wins
        return ((mutation.key, mutation.value), *pairs), False
    if mode == "dup_after":
        return (*pairs, (mutation.key, mutation.value)), True
    return _set(pairs, mutation.key, mutation.value), True


@dataclass
class _Draft:
    """An object under construction: pairs plus the reasons that decide its fate."""

    pairs: tuple[Pair, ...]
    fates: list[Fate]
    whys: list[str]
    errors: list[str | None]
    may_fail_body: bool = False

    def add(self, fate: Fate, why: str, error: str | None, may_fail: bool = False) -> None:
        """Record one more reason."""
        self.may_fail_body |= may_fail
        if fate is not Fate.STORED:
            self.fates.append(fate)
            self.whys.append(why)
            self.errors.append(error)

    def error(self) -> str | None:
        """The expected error start, when exactly one reason decides the object's fate."""
        return self.errors[0] if len(self.errors) == 1 else None


def _apply_mutation(
    draw: st.DrawFn, draft: _Draft, mutations: list[Mutation], broken: bool
) -> None:
    """Break the draft with one of `mutations`, or maybe add one a later duplicate key hides."""
    mutation = draw(st.sampled_from(mutations))
    present = any(key == mutation.key for key, _ in draft.pairs)
    if not broken:
        if present and mutation.value is not DROP and draw(st.booleans()):
            draft.pairs, _ = _mutate(draft.pairs, mutation, "dup_before")
            draft.whys.append(f"shadowed {mutation.why}")
            draft.may_fail_body |= mutation.may_fail_body
        return
    mode = draw(st.sampled_from(["replace", "dup_after"]))
    draft.pairs, _ = _mutate(draft.pairs, mutation, mode)
    draft.add(Fate.REFUSED, f"{mutation.why} ({mode})", mutation.error, mutation.may_fail_body)


# What breaks an object: nothing (half the time), one part of it, or anything.
_BREAKS = st.sampled_from(["none"] * 5 + ["ident", "props", "field", "field", "any"])


def _breaks(draw: st.DrawFn) -> tuple[bool, bool, bool]:
    """Whether the identifier, the properties and another field of an object are broken."""
    plan = draw(_BREAKS)
    if plan == "any":
        return draw(st.booleans()), draw(st.booleans()), draw(st.booleans())
    return plan == "ident", plan == "props", plan == "field"


_CURRENCIES = st.sampled_from(["USD", "usd", "Eur", "jpY", "XAU", "XTS", "CHE", "BOV"])
_PRICES = st.one_of(
    st.floats(min_value=-1e15, max_value=1e15, allow_nan=False),
    st.integers(-(10**15), 10**15),
    st.sampled_from([0, -1, 0.01, 1e15, -1e15, 5e-324, -0.0, 10**15]),
)


@st.composite
def event_like(draw: st.DrawFn, array: ArrayName) -> Blueprint:
    """A valid event or purchase object, maybe broken by one mutation."""
    bad_ident, bad_props, bad_field = _breaks(draw)
    ident = draw(identifiers(array, bad_ident))
    time_text, time_ms = draw(valid_times())
    pairs: list[Pair] = list(ident.pairs)
    if array == "events":
        pairs.append(("name", M + draw(nasty_text(40))))
        mutations, limit = EVENT_MUTATIONS, EVENT_NESTED_LIMIT
    else:
        pairs += [
            ("product_id", M + draw(nasty_text(40))),
            ("currency", draw(_CURRENCIES)),
            ("price", draw(_PRICES)),
        ]
        quantity = draw(st.one_of(st.sampled_from([DROP, None, 1, 100]), st.integers(1, 100)))
        if quantity is not DROP:
            pairs.append(("quantity", quantity))
        mutations, limit = PURCHASE_MUTATIONS, PURCHASE_NESTED_LIMIT
    pairs.append(("time", time_text))
    app = draw(st.sampled_from(["absent", "null", "app", "app"]))
    if app != "absent":
        pairs.append(("app_id", APP if app == "app" else None))
    props = draw(properties_part(limit, bad_props))
    pairs += props.pairs
    pairs += draw(
        st.lists(st.tuples(st.text(max_size=6).map("zz".__add__), json_scalars()), max_size=2)
    )
    draft = _Draft(tuple(draw(st.permutations(pairs))), [], [], [])
    draft.add(ident.fate, ident.why, ident.error)
    draft.add(props.fate, props.why, props.error, props.may_fail_body)
    _apply_mutation(draw, draft, mutations, bad_field)
    return Blueprint(
        array,
        JObject(draft.pairs),
        _fate(*draft.fates),
        (ident.why, props.why, *draft.whys),
        draft.error(),
        time_ms,
        ident.owner,
        may_fail_body=draft.may_fail_body,
    )


# -- attributes -----------------------------------------------------------------------------------

_NESTED_KEYS = st.text("abcdefghij_-0123456789\u00e9\U0001f600", max_size=6).map("k".__add__)
_NESTED_ATTRIBUTE = st.recursive(
    st.one_of(
        st.booleans(),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        nasty_text(40, nul=False),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(_NESTED_KEYS, children, max_size=3)
    ),
    max_leaves=6,
)
_MARKER_VALUES = st.one_of(
    nasty_text(200, nul=True).map("v".__add__),
    st.just("v" + "x" * 254),
    st.just("v" + "\U0001f600" * 254),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([2**63 - 1, -(2**63), 0, 1e308, -0.0, True, False]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(nasty_text(20).map("v".__add__), unique=True, max_size=25),
    st.dictionaries(_NESTED_KEYS, _NESTED_ATTRIBUTE, min_size=1, max_size=3),
    st.lists(st.dictionaries(_NESTED_KEYS, _NESTED_ATTRIBUTE, max_size=3), min_size=1, max_size=3),
    st.just(nest_objects(50)),
    st.just({"k": sized_string_list(ATTRIBUTE_NESTED_LIMIT - 6)}),  # exactly 100 KB
    st.just({"k": {"$time": "1990-01-01T00:00:00.000Z"}, "a": [1, "x", {"k": True}]}),
)
_ARRAY_ITEMS = st.one_of(nasty_text(20), st.integers(-1000, 1000), st.booleans(), st.floats(-1, 1))
_CUSTOM_VALUES = st.one_of(
    json_scalars(),
    st.builds(
        lambda n: {"inc": n}, st.one_of(st.integers(-(2**63), 2**63 - 1), st.floats(-1e9, 1e9))
    ),
    st.builds(lambda a: {"add": a}, st.lists(_ARRAY_ITEMS, max_size=30)),
    st.builds(lambda r: {"remove": r}, st.lists(_ARRAY_ITEMS, max_size=5)),
    st.builds(
        lambda a, r: {"add": a, "remove": r},
        st.lists(_ARRAY_ITEMS, max_size=3),
        st.lists(_ARRAY_ITEMS, max_size=3),
    ),
    st.lists(_ARRAY_ITEMS, max_size=30),
    st.dictionaries(_NESTED_KEYS, _NESTED_ATTRIBUTE, min_size=1, max_size=3),
    st.builds(
        lambda objs: {"$add": objs},
        st.lists(st.dictionaries(_NESTED_KEYS, _NESTED_ATTRIBUTE, max_size=2), max_size=2),
    ),
    st.just({"$remove": [{"$identifier_key": "k", "$identifier_value": 1}]}),
)
_CUSTOM_KEYS = st.text("abcdefgh", min_size=1, max_size=3).map("c_".__add__)


def _standard_fields(kind: str) -> st.SearchStrategy[Pair]:
    """Valid Braze profile fields (email/phone only where they are not the identifier)."""
    fields = [
        st.tuples(
            st.sampled_from(["first_name", "last_name", "home_city"]),
            st.one_of(st.none(), nasty_text(60), st.just("\U0001f600" * 255)),
        ),
        st.tuples(st.just("gender"), st.sampled_from(["M", "f", "o", "N", "p", "u", "U", None])),
        st.tuples(
            st.just("country"),
            st.one_of(
                st.sampled_from(["US", "us", "FR", "ZZ", "United States", None]), nasty_text(20)
            ),
        ),
        st.tuples(st.just("language"), st.sampled_from(["en", "FR", None])),
        st.tuples(
            st.sampled_from(["email_subscribe", "push_subscribe"]),
            st.sampled_from(["opted_in", "Subscribed", "UNSUBSCRIBED", None]),
        ),
        st.tuples(
            st.just("time_zone"), st.sampled_from(["Europe/Paris", "america/new_york", "UTC", None])
        ),
        st.tuples(st.just("dob"), st.sampled_from(["1990-01-02", "2000-02-29", None])),
        st.tuples(
            st.just("current_location"),
            st.one_of(
                st.none(),
                st.builds(
                    lambda lon, lat: {"longitude": lon, "latitude": lat},
                    st.floats(-180, 180),
                    st.floats(-90, 90),
                ),
            ),
        ),
        st.tuples(
            st.sampled_from(
                ["date_of_first_session", "date_of_last_session", "marked_email_as_spam_at"]
            ),
            st.one_of(st.none(), valid_times().map(lambda t: t[0])),
        ),
        st.tuples(
            st.sampled_from(["email_open_tracking_disabled", "email_click_tracking_disabled"]),
            st.one_of(st.none(), st.booleans()),
        ),
        st.just(("push_tokens", [{"app_id": APP, "token": "t" + M, "device_id": "d"}])),
        st.just(
            (
                "subscription_groups",
                [{"subscription_group_id": "g1", "subscription_state": "Subscribed"}],
            )
        ),
        st.just(("facebook", {"id": "fb", "likes": ["a"], "num_friends": 3, "other": None})),
        st.just(("twitter", {"id": 7, "screen_name": "tw"})),
    ]
    if kind in ("external_id", "braze_id", "user_alias"):
        fields.append(st.just(("email", "s" + M + "@example.com")))
        fields.append(st.sampled_from([("phone", "+1 555 0199"), ("phone", "+" + "1" * 254)]))
    return st.one_of(*fields)


_BAD_MARKER_VALUES: list[tuple[str, Any, bool]] = [
    ("256-char string", "v" + "x" * 255, False),
    ("256-emoji string", "v" + "\U0001f600" * 255, False),
    ("int64 max + 1", 2**63, False),
    ("int64 min - 1", -(2**63) - 1, False),
    ("400-digit integer", huge_integer(400), False),
    ("5000-digit integer", huge_integer(5000), True),
    ("null nested", {"k": None}, False),
    ("dotted nested key", {"a.b": 1}, False),
    ("spaced nested key", {"a b": 1}, False),
    ("$ nested key", {"k": {"$a": 1}}, False),
    ("51 nested objects", nest_objects(51), False),
    ("nested over 100 KB", {"k": sized_string_list(ATTRIBUTE_NESTED_LIMIT - 5)}, False),
    ("nested 2**64", {"k": [2**64]}, False),
    ("nested 256-char string", {"k": "x" * 256}, False),
    ("bad $time", {"$time": "yesterday"}, False),
    ("mixed array", ["a", {"k": 1}], False),
    ("null in array", ["a", None], False),
    ("array in array", [[1]], False),
    ("256-char array item", ["x" * 256], False),
    ("deep raw array", raw_nest(200), False),
    ("very deep raw array", raw_nest(5000), True),
    ("inc string", {"inc": "1"}, False),
    ("inc bool", {"inc": True}, False),
    ("inc null", {"inc": None}, False),
    ("inc huge", {"inc": 2**64}, False),
    ("add string", {"add": "x"}, False),
    ("remove number", {"remove": 5}, False),
    ("add null", {"add": [None]}, False),
    ("add array", {"add": [[1]]}, False),
    ("$add scalar", {"$add": [1]}, False),
    ("$update", {"$update": []}, False),
    ("$remove without value", {"$remove": [{"$identifier_key": "k"}]}, False),
]
_BAD_STANDARD: list[tuple[str, Any]] = [
    ("first_name", 5),
    ("first_name", "x" * 256),
    ("last_name", []),
    ("home_city", {"a": 1}),
    ("gender", "Q"),
    ("gender", 1),
    ("email", "not-an-email"),
    ("email", 5),
    ("email_subscribe", "maybe"),
    ("push_subscribe", True),
    ("country", 5),
    ("language", "english"),
    ("language", 5),
    ("dob", "1990-02-30"),
    ("dob", "1990/01/01"),
    ("dob", 19900101),
    ("time_zone", "Mars/Olympus"),
    ("time_zone", 3),
    ("current_location", {"longitude": 181, "latitude": 0}),
    ("current_location", "here"),
    ("current_location", {"longitude": "1", "latitude": 2}),
    ("current_location", {"longitude": 1}),
    ("date_of_first_session", "yesterday"),
    ("date_of_last_session", 12345),
    ("marked_email_as_spam_at", "x"),
    ("push_tokens", "t"),
    ("push_tokens", [{"app_id": 1, "token": "t"}]),
    ("push_tokens", [{"app_id": "a", "token": ""}]),
    ("subscription_groups", [{"subscription_group_id": "g", "subscription_state": "maybe"}]),
    ("subscription_groups", "x"),
    ("facebook", "x"),
    ("facebook", {"num_friends": "many"}),
    ("twitter", {"id": "x"}),
    ("email_open_tracking_disabled", "yes"),
    ("phone", ""),
    ("phone", 5),
]
ATTRIBUTE_MUTATIONS = (
    [
        Mutation(f"marker {why}", M, v, "custom attribute", may_fail_body=f)
        for why, v, f in _BAD_MARKER_VALUES
    ]
    + [Mutation(f"{k} {v!r}", k, v, f"'{k}") for k, v in _BAD_STANDARD]
    + [
        Mutation("empty custom key", "", 1, "custom attribute names must not be empty"),
        Mutation("$ custom key", "$c", 1, "custom attribute name"),
        Mutation("256-char custom key", "c" * 256, 1, "custom attribute name"),
        Mutation("_merge_objects true", "_merge_objects", True, "'_merge_objects'"),
        Mutation("_merge_objects 'yes'", "_merge_objects", "yes", "'_merge_objects'"),
        Mutation("push_token_import 'yes'", "push_token_import", "yes", "'push_token_import'"),
        Mutation("NUL in custom key", "c\x00", 1, "custom attribute name"),
        Mutation("NUL in email", "email", "a\x00@example.com", "'email'"),
    ]
)
_MARKER_KEY_MUTATIONS = [
    ("$ marker key", "$" + M),
    ("256-char marker key", M + "x" * 241),
    ("256-emoji marker key", M + "\U0001f600" * 241),
]


@st.composite
def attribute_objects(draw: st.DrawFn) -> Blueprint:
    """A valid attributes object (marker key, custom and profile fields), maybe broken."""
    bad_ident, bad_props, bad_field = _breaks(draw)
    ident = draw(identifiers("attributes", bad_ident))
    pairs: list[Pair] = [*ident.pairs, (M, draw(_MARKER_VALUES))]
    pairs += draw(st.lists(st.tuples(_CUSTOM_KEYS, _CUSTOM_VALUES), max_size=3))
    if ident.kind != "none":
        pairs += draw(st.lists(_standard_fields(ident.kind), max_size=3))
    draft = _Draft(tuple(draw(st.permutations(pairs))), [], [], [])
    draft.add(ident.fate, ident.why, ident.error)
    if (bad_props or bad_field) and draw(st.integers(0, 9)) == 0:
        why, key = draw(st.sampled_from(_MARKER_KEY_MUTATIONS))
        draft.pairs = tuple((key if k == M else k, v) for k, v in draft.pairs)
        draft.add(Fate.REFUSED, why, "custom attribute name")
    else:
        _apply_mutation(draw, draft, ATTRIBUTE_MUTATIONS, bad_props or bad_field)
    return Blueprint(
        "attributes",
        JObject(draft.pairs),
        _fate(*draft.fates),
        (ident.why, *draft.whys),
        draft.error(),
        owner=ident.owner,
        may_fail_body=draft.may_fail_body,
    )


_NOT_AN_OBJECT = {
    "attributes": "attributes objects must be JSON objects",
    "events": "event must be an object",
    "purchases": "purchase must be an object",
}


def objects(array: ArrayName) -> st.SearchStrategy[Blueprint]:
    """Objects for one array, mostly well-formed, sometimes not objects at all."""
    junk = st.sampled_from([None, 1, 1.5, "x", True, [], [{"name": "x"}]]).map(
        lambda v: Blueprint(array, v, Fate.REFUSED, (f"object {v!r}",), _NOT_AN_OBJECT[array])
    )
    good = attribute_objects() if array == "attributes" else event_like(array)
    return st.one_of(good, good, good, good, junk)


def simple_object(array: ArrayName) -> Blueprint:
    """A minimal valid object (for 75/76-object arrays)."""
    if array == "attributes":
        value = JObject((("external_id", SEED_EXTERNAL_ID), (M, 1)))
        return Blueprint(array, value, Fate.STORED, owner=SEED_EXTERNAL_ID)
    pairs: tuple[Pair, ...] = (("external_id", SEED_EXTERNAL_ID), ("time", "2024-01-01T00:00:00Z"))
    if array == "events":
        pairs += (("name", M),)
    else:
        pairs += (("product_id", M), ("currency", "USD"), ("price", 1))
    return Blueprint(
        array, JObject(pairs), Fate.STORED, time_ms=1_704_067_200_000, owner=SEED_EXTERNAL_ID
    )


_JUNK_ARRAYS = [{}, {"0": {}}, "events", "", 1, 0, True, False, 1.5, JObject((("a", 1), ("a", 2)))]


@st.composite
def body_plans(draw: st.DrawFn) -> BodyPlan:
    """A request body: some arrays (or junk, or ghosts shadowed by a later duplicate key)."""
    names = draw(st.lists(st.sampled_from(ARRAYS), unique=True, min_size=1, max_size=3))
    if draw(st.integers(0, 19)) == 0:
        names = []  # no array at all
    pairs: list[Pair] = []
    for name in names:
        shape = draw(st.sampled_from(["objects"] * 16 + ["empty", "null", "junk", "ghost", "max"]))
        if shape == "ghost":  # an earlier duplicate of the key: never processed
            ghost = draw(
                st.one_of(
                    st.lists(objects(name), min_size=1, max_size=2).map(tuple),
                    st.sampled_from(_JUNK_ARRAYS),
                    st.just(tuple(simple_object(name) for _ in range(76))),
                )
            )
            pairs.append((name, ghost))
            shape = draw(st.sampled_from(["objects", "objects", "empty", "null"]))
        if shape == "objects":
            pairs.append((name, tuple(draw(st.lists(objects(name), min_size=1, max_size=5)))))
        elif shape == "empty":
            pairs.append((name, ()))
        elif shape == "null":
            pairs.append((name, None))
        elif shape == "junk":
            pairs.append((name, draw(st.sampled_from(_JUNK_ARRAYS))))
        elif shape == "max":
            count = draw(st.sampled_from([75, 76]))
            pairs.append((name, tuple(simple_object(name) for _ in range(count))))
    for key, value in draw(
        st.lists(
            st.tuples(
                st.sampled_from(["Events", "event", "ATTRIBUTES", "zz", "app_id", "\U0001f600"]),
                json_scalars(),
            ),
            max_size=2,
        )
    ):
        pairs.insert(draw(st.integers(0, len(pairs))), (key, value))
    return BodyPlan(tuple(pairs), draw(st.booleans()))


# -- rendering and checking -------------------------------------------------------------------


class _RawValue:
    """What a `Raw` value stands for when an object's effective content is computed."""

    def __repr__(self) -> str:
        """Show as RAW."""
        return "RAW"


RAW_VALUE = _RawValue()


def materialize(value: Any, marker: str, seed: Seed) -> Any:
    """The object a JSON parser builds from a blueprint value (last duplicate key wins)."""
    if isinstance(value, Raw):
        return RAW_VALUE
    if isinstance(value, str):
        return value.replace(M, marker).replace(SEED_BRAZE, seed.braze_id).replace(APP, seed.app_id)
    if isinstance(value, JObject | dict):
        out: dict[Any, Any] = {}
        for key, item in value.pairs if isinstance(value, JObject) else value.items():
            out[materialize(key, marker, seed)] = materialize(item, marker, seed)
        return out
    if isinstance(value, list | tuple):
        return [materialize(item, marker, seed) for item in value]
    return value


def new_marker() -> str:
    """A fresh marker: `hm` + 13 hex digits, as long as the placeholder."""
    return "hm" + secrets.token_hex(7)[:13]


def render(plan: BodyPlan, seed: Seed) -> Rendered:
    """Write the request text, with fresh markers, and derive the expected status."""
    last = {key: i for i, (key, _) in enumerate(plan.pairs)}
    parts: list[str] = []
    sent: list[Sent] = []
    ghosts: list[str] = []
    sent_arrays: set[ArrayName] = set()
    fatal = may_fail = False
    for i, (key, value) in enumerate(plan.pairs):
        live = last[key] == i and key in ARRAYS
        if isinstance(value, tuple):
            texts = []
            for index, blueprint in enumerate(value):
                marker = new_marker()
                text = to_json(blueprint.value, ascii_only=plan.ascii_only)
                text = text.replace(M, marker).replace(SEED_BRAZE, seed.braze_id)
                texts.append(text.replace(APP, seed.app_id))
                may_fail |= blueprint.may_fail_body
                if live:
                    effective = materialize(blueprint.value, marker, seed)
                    sent.append(Sent(key, index, marker, texts[-1], blueprint, effective))
                else:
                    ghosts.append(marker)
            value_text = "[" + ",".join(texts) + "]"
            if live:
                sent_arrays.add(key)
                fatal |= len(value) > 75
        else:
            value_text = to_json(value, ascii_only=plan.ascii_only)
            fatal |= live and value is not None  # an array key holding something else
        parts.append(to_json(key, ascii_only=plan.ascii_only) + ":" + value_text)
    fatal |= not sent_arrays
    statuses = {400} if fatal else ({201, 400} if may_fail else {201})
    body = ("{" + ",".join(parts) + "}").encode()
    return Rendered(body, statuses, sent_arrays, sent, ghosts)


_TABLES = {
    "events": events,
    "purchases": purchases,
    "users": users,
    "user_aliases": user_aliases,
    "custom_events": custom_events,
    "products": products,
    "custom_attributes": custom_attributes,
}


def snapshot(engine: Engine) -> dict[str, int]:
    """The highest id of every table the endpoint writes (new rows have larger ids)."""
    with engine.connect() as conn:
        return {
            name: int(conn.execute(select(func.coalesce(func.max(t.c.id), 0))).scalar_one())
            for name, t in _TABLES.items()
        }


def _marker_of(text: str | None) -> str | None:
    """The marker a stored name or identifier starts with (or contains)."""
    found = MARKER.search(text or "")
    return found.group(0) if found else None


def _owner(blueprint: Blueprint, marker: str) -> str | None:
    """The external_id a stored row of this object must belong to."""
    return None if blueprint.owner is None else blueprint.owner.replace(M, marker)


def _check_time(stored: int, expected: int | None, t0: int, t1: int) -> None:
    """The stored time is the sent one, or "now" when that was in the future."""
    if expected is None:
        return
    if expected <= t0:
        assert stored == expected
    else:
        assert t0 <= stored <= min(expected, t1) or stored == expected


def _expected_properties(effective: dict[str, Any]) -> dict[str, Any] | None:
    """What `properties` a stored row must hold: the first 256, or None when empty."""
    props = effective.get("properties")
    if not props:
        return None
    return dict(list(props.items())[:256])


def _stored_rows(conn: Connection, before: dict[str, int], t0: int) -> dict[str, Any]:
    """Everything the request added or touched."""
    owner = users.c.external_id.label("owner")
    event_rows = conn.execute(
        select(custom_events.c.name, events.c.time_ms, events.c.properties, events.c.app_id, owner)
        .select_from(
            events.join(custom_events, custom_events.c.id == events.c.event_id).outerjoin(
                users, users.c.id == events.c.user_id
            )
        )
        .where(events.c.id > before["events"])
    ).all()
    purchase_rows = conn.execute(
        select(
            products.c.name,
            purchases.c.currency,
            purchases.c.price,
            purchases.c.quantity,
            purchases.c.time_ms,
            purchases.c.properties,
            purchases.c.app_id,
            owner,
        )
        .select_from(
            purchases.join(products, products.c.id == purchases.c.product_id).outerjoin(
                users, users.c.id == purchases.c.user_id
            )
        )
        .where(purchases.c.id > before["purchases"])
    ).all()

    def new(table: str, column: str) -> list[Any]:
        """One column of the rows added to a table."""
        t = _TABLES[table]
        return list(conn.execute(select(t.c[column]).where(t.c.id > before[table])).scalars())

    return {
        "events": event_rows,
        "purchases": purchase_rows,
        "event_names": new("custom_events", "name"),
        "product_names": new("products", "name"),
        "attribute_names": new("custom_attributes", "name"),
        "user_ids": new("users", "external_id") + new("users", "email"),
        "aliases": new("user_aliases", "alias_name"),
        "profiles": conn.execute(
            select(users.c.external_id, users.c.custom).where(users.c.updated_at_ms >= t0)
        ).all(),
    }


def check_response_and_storage(
    engine: Engine,
    seed: Seed,
    rendered: Rendered,
    data: dict[str, Any],
    before: dict[str, int],
    t0: int,
    t1: int,
) -> None:
    """Counts, errors and stored rows agree with each other and with the objects' fates."""
    assert data["message"] == "success"
    for name in ARRAYS:
        assert (f"{name}_processed" in data) == (name in rendered.sent_arrays), name
    errors = data.get("errors", [])
    assert "errors" not in data or errors, "an empty errors list"
    keys = [(ARRAYS.index(e["input_array"]), e["index"]) for e in errors]
    assert keys == sorted(keys) and len(set(keys)) == len(keys), "errors unsorted or repeated"
    assert all(isinstance(e["type"], str) and e["type"] for e in errors)
    reported = {(e["input_array"], e["index"]): e["type"] for e in errors}
    with engine.connect() as conn:
        rows = _stored_rows(conn, before, t0)

    stored_count: Counter[tuple[str, str]] = Counter()
    for row in rows["events"]:
        stored_count["events", _marker_of(row.name) or repr(row.name)] += 1
    for row in rows["purchases"]:
        stored_count["purchases", _marker_of(row.name) or repr(row.name)] += 1
    applied = {name for name in rows["attribute_names"] if MARKER.fullmatch(name)}
    odd_names = [n for n in rows["attribute_names"] if _marker_of(n) and not MARKER.fullmatch(n)]
    assert not odd_names, f"invalid custom attribute names stored: {odd_names!r}"
    for marker in applied:
        stored_count["attributes", marker] += 1

    expected_keys = set()
    stored_markers = set()
    for obj in rendered.objects:
        count = stored_count.pop((obj.array, obj.marker), 0)
        where = f"{obj.array}[{obj.index}] {obj.blueprint.why}: {obj.text[:300]}"
        assert count <= 1, f"stored {count} times: {where}"
        is_reported = (obj.array, obj.index) in reported
        if obj.blueprint.fate is Fate.STORED:
            assert count == 1 and not is_reported, (
                f"valid object not stored ({reported.get((obj.array, obj.index))}): {where}"
            )
            stored_markers.add(obj.marker)
        else:
            assert count == 0, f"invalid object stored: {where}"
            assert is_reported, f"invalid object not reported: {where}"
            if obj.blueprint.error is not None:
                message = reported[obj.array, obj.index]
                assert message.startswith(obj.blueprint.error), (message, where)
            expected_keys.add((obj.array, obj.index))
    assert set(reported) == expected_keys, "errors name objects that were stored, or vice versa"
    assert not stored_count, f"rows that belong to no live object: {dict(stored_count)}"
    for name in ARRAYS:
        if name in rendered.sent_arrays:
            stored = sum(
                1 for o in rendered.objects if o.array == name and o.marker in stored_markers
            )
            assert data[f"{name}_processed"] == stored, name

    # catalogs and users only grow for stored objects; shadowed (ghost) arrays leave no trace
    for name in rows["event_names"] + rows["product_names"]:
        assert _marker_of(name) in stored_markers, f"catalog entry {name!r} of no stored object"
    for text in rows["user_ids"] + rows["aliases"]:
        marker = _marker_of(text)
        assert marker is None or marker in stored_markers, f"user {text!r} of no stored object"
    # nothing of a refused attributes object or of a shadowed array lands in a profile
    absent = [
        *rendered.ghosts,
        *(
            o.marker
            for o in rendered.objects
            if o.marker not in applied and o.array == "attributes"
        ),
    ]
    for profile in rows["profiles"]:
        leaked = [marker for marker in absent if marker in profile.custom]
        assert not leaked, f"profile {profile.external_id!r} holds {leaked}: {profile.custom[:500]}"

    by_marker = {o.marker: o for o in rendered.objects}
    for row in rows["events"]:
        obj = by_marker[_marker_of(row.name) or ""]
        _check_time(row.time_ms, obj.blueprint.time_ms, t0, t1)
        props = json.loads(row.properties) if row.properties is not None else None
        assert props == _expected_properties(obj.effective), obj.text[:300]
        app = seed.app_key if obj.effective.get("app_id") == seed.app_id else None
        assert row.app_id == app
        owner = _owner(obj.blueprint, obj.marker)
        assert owner is None or row.owner == owner
    for row in rows["purchases"]:
        obj = by_marker[_marker_of(row.name) or ""]
        eff = obj.effective
        _check_time(row.time_ms, obj.blueprint.time_ms, t0, t1)
        props = json.loads(row.properties) if row.properties is not None else None
        assert props == _expected_properties(eff), obj.text[:300]
        assert row.currency == eff["currency"].upper()
        assert row.price == float(eff["price"])
        assert row.quantity == (eff.get("quantity") or 1)
        owner = _owner(obj.blueprint, obj.marker)
        assert owner is None or row.owner == owner
    profiles: dict[str, list[tuple[str | None, Any]]] = {}
    for profile in rows["profiles"]:
        custom = json.loads(profile.custom)
        for marker in applied & custom.keys():
            profiles.setdefault(marker, []).append((profile.external_id, custom[marker]))
    for marker in applied:
        obj = by_marker[marker]
        ((external_id, value),) = profiles[marker]
        assert value == obj.effective[marker], obj.text[:300]
        owner = _owner(obj.blueprint, marker)
        assert owner is None or external_id == owner


@pytest.fixture
def seed(client: TestClient, engine: Engine, workspace: Workspace) -> Seed:
    """A known user (external_id + braze_id) and a known alias-only user."""
    body = {
        "attributes": [
            {"external_id": SEED_EXTERNAL_ID, "first_name": "Seed"},
            {"user_alias": SEED_ALIAS, "_update_existing_only": False},
        ]
    }
    response = client.post("/users/track", content=json.dumps(body), headers=auth(workspace.key))
    assert response.json() == {"message": "success", "attributes_processed": 2}
    with engine.connect() as conn:
        braze_id = conn.execute(
            select(users.c.braze_id).where(users.c.external_id == SEED_EXTERNAL_ID)
        ).scalar_one()
    return Seed(workspace.key, workspace.app_id, workspace.app_key, braze_id)


def _post(client: TestClient, seed: Seed, body: bytes) -> Any:
    """POST raw bytes to /users/track."""
    return client.post(
        "/users/track", content=body, headers={**auth(seed.key), "Content-Type": "application/json"}
    )


def _culprits(client: TestClient, seed: Seed, rendered: Rendered) -> str:
    """Each object of a failed request sent alone: the single-object bodies that also fail."""
    found = []
    for obj in rendered.objects:
        body = f'{{"{obj.array}":[{obj.text}]}}'.encode()
        response = _post(client, seed, body)
        if response.status_code >= 500:
            found.append(f"{body[:2000]!r} -> {response.status_code} {response.text}")
    return "\n".join(found) or "(no single object fails alone)"


def _now_ms() -> int:
    """Wall-clock epoch milliseconds, as the server reads them."""
    return int(time.time() * 1000)


def _note(text: str) -> None:
    """Record text for a falsifying example (or the assertion message outside Hypothesis)."""
    if currently_in_test_context():
        note(text)


def _event(text: str) -> None:
    """Count an event in Hypothesis' statistics (when inside a Hypothesis test)."""
    if currently_in_test_context():
        event(text)


def send_and_check(client: TestClient, engine: Engine, seed: Seed, plan: BodyPlan) -> None:
    """Send a planned body and check status, counts, errors and storage."""
    rendered = render(plan, seed)
    _note(f"body: {rendered.body[:4000]!r}")
    before = snapshot(engine)
    t0 = _now_ms()
    response = _post(client, seed, rendered.body)
    t1 = _now_ms()
    _note(f"response {response.status_code}: {response.text[:4000]}")
    if response.status_code >= 500:
        culprits = _culprits(client, seed, rendered)
        pytest.fail(f"{response.status_code} {response.text}; culprits:\n{culprits}")
    assert response.status_code in rendered.statuses, response.text
    _event(f"status {response.status_code} (expected {sorted(rendered.statuses)})")
    for obj in rendered.objects:
        _event(f"{obj.array} {obj.blueprint.fate.value}")
    data = response.json()
    assert isinstance(data.get("message"), str) and data["message"]
    if response.status_code != 201:
        assert snapshot(engine) == before, "a refused request stored something"
    else:
        check_response_and_storage(engine, seed, rendered, data, before, t0, t1)


@settings(SETTINGS, max_examples=120)
@given(plan=body_plans())
def test_generated_bodies_store_exactly_the_valid_objects(
    client: TestClient, engine: Engine, seed: Seed, plan: BodyPlan
) -> None:
    """Any body: the documented status, and counts/errors/storage agree object by object."""
    send_and_check(client, engine, seed, plan)


BASE_TIME, BASE_MS = "2024-01-01T00:00:00Z", 1_704_067_200_000


def _base(array: ArrayName, ident: tuple[Pair, ...]) -> tuple[Pair, ...]:
    """A valid object of `array` with the given identifier pairs."""
    if array == "attributes":
        return (*ident, (M, "v"), ("first_name", "A"), ("c_x", 1))
    common = (("time", BASE_TIME), ("app_id", APP), ("properties", {"a": 1}))
    if array == "events":
        return (*ident, ("name", M), *common)
    return (
        *ident,
        ("product_id", M),
        ("currency", "usd"),
        ("price", 1.5),
        ("quantity", 2),
        *common,
    )


def catalogue(array: ArrayName) -> list[Blueprint]:
    """Every listed identifier, mutation and property case, each alone on a valid object."""
    fresh: tuple[Pair, ...] = (("external_id", "x" + M),)
    base = _base(array, fresh)
    out: list[Blueprint] = []

    def add(
        pairs: Any,
        fate: Fate,
        why: str,
        error: str | None = None,
        may_fail: bool = False,
        owner: str | None = "x" + M,
    ) -> None:
        """Record one case."""
        out.append(
            Blueprint(
                array,
                JObject(tuple(pairs)),
                fate,
                (why,),
                error if fate is Fate.REFUSED else None,
                None if array == "attributes" else BASE_MS,
                owner,
                may_fail_body=may_fail,
            )
        )

    add(base, Fate.STORED, "base")
    for ident in bad_identifiers(array) + long_phones():
        add(_base(array, ident.pairs), ident.fate, ident.why, ident.error, owner=None)
    mutations = {
        "attributes": ATTRIBUTE_MUTATIONS,
        "events": EVENT_MUTATIONS,
        "purchases": PURCHASE_MUTATIONS,
    }[array]
    for m in mutations:
        for mode in ("replace", "dup_after", "dup_before"):
            pairs, effective = _mutate(base, m, mode)
            add(
                pairs,
                Fate.REFUSED if effective else Fate.STORED,
                f"{m.why} ({mode})",
                m.error,
                m.may_fail_body,
            )
            if m.value is DROP:
                break
    if array == "attributes":
        for why, key in _MARKER_KEY_MUTATIONS:
            add(
                ((key if k == M else k, v) for k, v in base),
                Fate.REFUSED,
                why,
                "custom attribute name",
            )
        for value in (
            nest_objects(50),
            {"k": sized_string_list(ATTRIBUTE_NESTED_LIMIT - 6)},
            "v" + "x" * 254,
            "v\x00",
            [f"v{i}" for i in range(25)],
            2**63 - 1,
        ):
            add(_set(base, M, value), Fate.STORED, f"marker {str(value)[:20]}")
        return out
    limit = EVENT_NESTED_LIMIT if array == "events" else PURCHASE_NESTED_LIMIT
    for why, bad, may_fail in _bad_property_values(limit):
        add(_set(base, "properties", {"p": bad}), Fate.REFUSED, why, INVALID_PROPERTIES, may_fail)
        add(
            _set(base, "properties", JObject((("p", bad), ("p", 1)))),
            Fate.STORED,
            f"{why} (shadowed)",
            may_fail=may_fail,
        )
    for why, key, exact in _BAD_PROPERTY_KEYS:
        add(_set(base, "properties", {key: 1}), Fate.REFUSED, why, exact or INVALID_PROPERTIES)
    for key in ("\x00", "a\x00b"):
        add(_set(base, "properties", {key: 1}), Fate.REFUSED, "NUL in key", INVALID_PROPERTIES)
    for value in _NON_OBJECT_PROPERTIES:
        add(
            _set(base, "properties", value),
            Fate.REFUSED,
            f"properties {value!r}",
            INVALID_PROPERTIES,
        )
    for why, value in boundary_properties(limit):
        add(_set(base, "properties", value), Fate.STORED, why)
    return out


def test_every_listed_case_meets_its_fate(client: TestClient, engine: Engine, seed: Seed) -> None:
    """Every listed case alone on a valid object, 75 per array and request, meets its fate."""
    # Cases the decoder may refuse whole (deep nesting, 4,300+ digits) go one per request.
    cases = {array: catalogue(array) for array in ARRAYS}
    safe = {a: [b for b in cases[a] if not b.may_fail_body] for a in ARRAYS}
    plans = [
        BodyPlan(
            tuple((a, tuple(safe[a][start : start + 75])) for a in ARRAYS if safe[a][start:]),
            ascii_only=start % 150 == 0,
        )
        for start in range(0, max(len(v) for v in safe.values()), 75)
    ]
    plans += [
        BodyPlan(((b.array, (b,)),), False) for a in ARRAYS for b in cases[a] if b.may_fail_body
    ]
    failures = []
    for plan in plans:
        try:
            send_and_check(client, engine, seed, plan)
        except (AssertionError, pytest.fail.Exception) as exc:
            failures.append(str(exc)[:3000])
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize(
    ("price", "quantity"), [(1e15, 100), (-1e15, 100), (1.7976931348623157e308, 1), (10**300, 1)]
)
def test_extreme_prices_never_overflow_revenue(
    client: TestClient, engine: Engine, seed: Seed, price: float, quantity: int
) -> None:
    """Regression: 1e308 prices overflowed the hourly revenue rollup (503 on PostgreSQL).

    Prices are capped at 1e15 in absolute value: the largest are stored and add up without
    overflow in one hour's rollup; anything larger is refused as an object error.
    """
    allowed = abs(price) <= 1e15
    for minute in (0, 30):
        body = {
            "purchases": [
                {
                    "external_id": SEED_EXTERNAL_ID,
                    "product_id": "big",
                    "currency": "USD",
                    "price": price,
                    "quantity": quantity,
                    "time": f"2001-02-03T04:{minute:02d}:00Z",
                }
            ]
        }
        response = _post(client, seed, json.dumps(body).encode())
        assert response.status_code == 201, f"{body} -> {response.status_code} {response.text}"
        assert response.json()["purchases_processed"] == (1 if allowed else 0)
    with engine.connect() as conn:
        prices = (
            conn.execute(
                select(purchases.c.price)
                .select_from(purchases.join(products, products.c.id == purchases.c.product_id))
                .where(products.c.name == "big")
            )
            .scalars()
            .all()
        )
    assert prices == ([float(price)] * 2 if allowed else [])


# -- bodies that must be refused whole ------------------------------------------------------------

C = "%CORRUPT%"  # where a corruption goes in an otherwise valid body
_VALUE_CORRUPTIONS: list[bytes] = [
    *(t.encode() for t in NONFINITE_TOKENS),
    *(t.encode() for t in SURROGATE_STRINGS),
    b'"\xed\xa0\x80"',  # a surrogate encoded as UTF-8 bytes (CESU-8)
    b'"\xff"',
    b'"\xc0\xaf"',  # overlong encoding
    b'"\xf4\x90\x80\x80"',  # beyond U+10FFFF
    b'"\xe2\x82"',  # truncated sequence
    b'"a\x01b"',  # raw control character
    b'"a\x00b"',  # raw NUL
    b'"a\nb"',
    b'"\\x41"',
    b'"\\u12"',
    b'"\\q"',
    b'"unterminated',
    b"01",
    b"+1",
    b".5",
    b"1.",
    b"1e",
    b"-",
    b"0x10",
    b"'single'",
    b"undefined",
    b"True",
    b"nul",
    b"[1,]",
    b'{"a":1,}',
    b'{"a" 1}',
    b"{1: 2}",
    b"[1 2]",
    b"/* comment */ 1",
    b"1e400",
    b"9" * 400 + b".5",
]
_KEY_CORRUPTIONS: list[bytes] = [
    *(t.encode() for t in SURROGATE_STRINGS),
    b'"\xed\xb0\x80"',
    b"unquoted",
    b"'single'",
    b"1",
    b"null",
    b'"a\x02"',
]


def _corruptible_bodies() -> list[Any]:
    """Valid bodies with a place (`C`) for a corrupt value; valid siblings would be stored."""
    event = {"external_id": "x" + M, "name": M, "time": "2024-01-01T00:00:00Z"}
    purchase = {
        "external_id": "x" + M,
        "product_id": M,
        "currency": "USD",
        "price": 1,
        "time": "2024-01-01T00:00:00Z",
    }
    attribute = {"external_id": "x" + M, M: 1}
    raw = Raw(C)
    return [
        {"events": [event], "zz": raw},
        {"events": [{**event, "properties": {"p": raw}}]},
        {"events": [event, {**event, "properties": {"p": [1, {"q": [raw]}]}}]},
        {"events": [event, raw]},
        {"purchases": [{**purchase, "price": raw}], "attributes": [attribute]},
        {"attributes": [attribute, {**attribute, "c": raw}]},
        {"attributes": [{**attribute, "external_id": raw}], "events": [event]},
        {"events": raw, "attributes": [attribute]},
        {"attributes": [attribute], "events": [event], "purchases": [purchase], "zz": [raw]},
    ]


@st.composite
def fatal_bodies(draw: st.DrawFn) -> bytes:
    """A body the server must refuse whole (400)."""
    base = draw(st.sampled_from(_corruptible_bodies()))
    text = to_json(base, ascii_only=draw(st.booleans())).replace(M, new_marker())
    kind = draw(st.sampled_from(["value", "value", "key", "truncated", "whole", "not-object"]))
    if kind == "value":
        return text.encode().replace(C.encode(), draw(st.sampled_from(_VALUE_CORRUPTIONS)))
    valid = text.replace(C, "1").encode()
    if kind == "key":
        key = draw(st.sampled_from(_KEY_CORRUPTIONS))
        position = draw(st.sampled_from([1, valid.index(b"{", 2) + 1]))
        return valid[:position] + key + b":1," + valid[position:]
    if kind == "truncated":
        return valid[: draw(st.integers(0, len(valid) - 1))]
    if kind == "whole":
        wrapped = draw(st.sampled_from([b"%s x", b"%s%s", b"%s,", b"%s\x00", b"(%s)", b"%s}"]))
        return wrapped.replace(b"%s", valid)
    return draw(
        st.sampled_from(
            [
                b"[" + valid + b"]",
                b"[]",
                b'"text"',
                b"1",
                b"null",
                b"true",
                b"",
                b"   ",
                b"\n",
                b'"' + valid.replace(b'"', b'\\"') + b'"',
            ]
        )
    )


def _all_rows(engine: Engine) -> dict[str, int]:
    """Row counts of every table the endpoint writes."""
    with engine.connect() as conn:
        return {
            name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for name, t in _TABLES.items()
        }


@settings(SETTINGS, max_examples=60)
@given(body=fatal_bodies())
def test_malformed_bodies_are_400_and_store_nothing(
    client: TestClient, engine: Engine, seed: Seed, body: bytes
) -> None:
    """NaN/Infinity, lone surrogates, bad UTF-8, truncation, non-objects: 400, nothing stored."""
    note(f"body: {body[:2000]!r}")
    before = _all_rows(engine)
    response = _post(client, seed, body)
    note(f"response {response.status_code}: {response.text[:2000]}")
    assert response.status_code == 400, response.text
    message = response.json()["message"]
    assert isinstance(message, str) and message
    assert _all_rows(engine) == before


def test_byte_order_mark_is_refused_or_ignored(client: TestClient, seed: Seed) -> None:
    """RFC 8259 lets a parser ignore a BOM or reject it; either way no 5xx."""
    response = _post(client, seed, b'\xef\xbb\xbf{"events": []}')
    assert response.status_code in (201, 400), response.text


# -- the 4 MB limit -------------------------------------------------------------------------------

LIMIT = 4 * 1024 * 1024


def _padded_body(size: int, marker: str) -> bytes:
    """A valid one-event body padded (with an ignored top-level key) to exactly `size` bytes."""
    event = {"external_id": "x" + marker, "name": marker, "time": "2024-01-01T00:00:00Z"}
    head = json.dumps({"events": [event]})[:-1].encode() + b', "pad": "'
    return head + b"x" * (size - len(head) - 2) + b'"}'


def _event_rows(engine: Engine, marker: str) -> int:
    """Stored events named `marker`."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(events.join(custom_events, custom_events.c.id == events.c.event_id))
                .where(custom_events.c.name == marker)
            ).scalar_one()
        )


@pytest.mark.parametrize("chunked", [False, True])
def test_body_limit_is_exactly_4_mb(
    client: TestClient, engine: Engine, seed: Seed, chunked: bool
) -> None:
    """4 MB is stored; one byte more is 413 and stores nothing (with or without Content-Length)."""
    for size, status in ((LIMIT, 201), (LIMIT + 1, 413)):
        marker = new_marker()
        body = _padded_body(size, marker)
        assert len(body) == size
        content: Any = (
            iter([body[i : i + 65_536] for i in range(0, size, 65_536)]) if chunked else body
        )
        response = client.post("/users/track", content=content, headers=auth(seed.key))
        assert response.status_code == status, response.text[:500]
        if status == 413:
            assert response.json() == {"message": "Request Entity Too Large"}
        assert _event_rows(engine, marker) == (1 if status == 201 else 0)
