"""Membership and tracked counts agree exactly with a brute-force evaluation of the same filters.

Seeded random users, attributes, events and purchases go in through `/users/track` in two
phases; random filter trees (every operator of every leaf kind) are defined and tracked before
the first phase. After each phase the evaluator catches up; then

- each segment's members (and `size`) equal a from-scratch evaluation, written here
  independently of heron.segments.evaluate, over everything sent so far;
- each tracked segment's event and purchase series equal the events and purchases of each
  phase whose user the brute force puts in the segment at the end of that phase (membership
  at the time the evaluator processed them);
- later, with no new data, moving the clock on re-evaluates exactly the users whose
  time-relative conditions changed (the brute force at the later instant agrees again).
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from seg_helpers import create_segment, seg_client, track  # noqa: F401
from sqlalchemy import select
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from conftest import Workspace, auth
from heron.segments.consumer import MAX_BATCH, catch_up
from heron.store.schema import segment_members, segments, users

DAY = 86_400_000
NOW = int(datetime(2026, 3, 1, 12, tzinfo=UTC).timestamp() * 1000)
EVENTS = ("open", "play", "share")
PRODUCTS = ("gem", "pass")
COUNTRIES = ("US", "FR", "DE")
PLANS = ("free", "pro", "team")
TAG_POOL = ("a", "b", "c", "d")


def iso(ms: int) -> str:
    """Epoch ms as ISO 8601 UTC with milliseconds (what heron stores for times)."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(value: Any) -> int | None:
    """A stored time or date string as epoch ms (the brute force's own parser)."""
    if not isinstance(value, str):
        return None
    if len(value) == 10:
        return (
            int(datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC).timestamp())
            * 1000
        )
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return int(moment.timestamp() * 1000)


# -- the generated world -----------------------------------------------------------------------


class World:
    """What was sent, kept the simple way: per user, attributes and the list of actions."""

    def __init__(self, app_id: str) -> None:
        self.app_id = app_id
        self.standard: dict[str, dict[str, Any]] = defaultdict(dict)
        self.custom: dict[str, dict[str, Any]] = defaultdict(dict)
        self.events: dict[str, list[tuple[str, int, bool]]] = defaultdict(list)  # name, t, app
        self.purchases: dict[str, list[tuple[str, int, bool, float, int]]] = defaultdict(list)
        self.users: set[str] = set()


def random_phase(rng: random.Random, world: World, n_users: int, phase: int) -> dict[str, Any]:
    """One /users/track body worth of random data (applied to the world as Braze would)."""
    attributes, evs, buys = [], [], []
    for i in range(n_users):
        user = f"u{i}"
        if rng.random() < 0.8:
            obj: dict[str, Any] = {"external_id": user}
            for field, choices in (
                ("country", COUNTRIES),
                ("language", ("en", "fr")),
                ("gender", ("M", "F", "O")),
                ("email_subscribe", ("opted_in", "subscribed", "unsubscribed")),
            ):
                if rng.random() < 0.6:
                    obj[field] = rng.choice(choices)
            if rng.random() < 0.5:
                obj["dob"] = date(rng.randint(1960, 2010), rng.randint(1, 12), 1).isoformat()
            custom_choices: list[tuple[str, Any]] = [
                ("plan", rng.choice(PLANS)),
                ("score", rng.choice([rng.randint(-5, 20), rng.uniform(-5, 20), 7])),
                ("vip", rng.random() < 0.5),
                ("tags", rng.sample(TAG_POOL, rng.randint(0, 3))),
                ("signup", iso(NOW - rng.randint(0, 60) * DAY - rng.randint(0, DAY))),
                ("mixed", rng.choice([1, "1", True, 1.0, "x"])),
            ]
            for name, value in custom_choices:
                roll = rng.random()
                if roll < 0.5:
                    obj[name] = value
                elif roll < 0.6 and phase > 0:
                    obj[name] = None  # unset
            attributes.append(obj)
            world.users.add(user)
            for key, value in obj.items():
                if key == "external_id":
                    continue
                target = world.custom if key in dict(custom_choices) else world.standard
                if value is None:
                    target[user].pop(key, None)
                else:
                    target[user][key] = value
        for _ in range(rng.choice([0, 0, 1, 2, 4, 7])):
            name = rng.choice(EVENTS)
            t = NOW - rng.randint(0, 45 * DAY)
            with_app = rng.random() < 0.3
            event: dict[str, Any] = {"external_id": user, "name": name, "time": iso(t)}
            if with_app:
                event["app_id"] = world.app_id
            evs.append(event)
        for _ in range(rng.choice([0, 0, 0, 1, 2])):
            product = rng.choice(PRODUCTS)
            t = NOW - rng.randint(0, 45 * DAY)
            price = round(rng.uniform(0.5, 20), 2)
            quantity = rng.randint(1, 3)
            with_app = rng.random() < 0.3
            buy: dict[str, Any] = {
                "external_id": user,
                "product_id": product,
                "currency": "USD",
                "price": price,
                "quantity": quantity,
                "time": iso(t),
            }
            if with_app:
                buy["app_id"] = world.app_id
            buys.append(buy)
    for event in evs:
        user = event["external_id"]
        world.users.add(user)
        world.events[user].append(
            (event["name"], parse_time(event["time"]) or 0, "app_id" in event)
        )
    for buy in buys:
        user = buy["external_id"]
        world.users.add(user)
        world.purchases[user].append(
            (
                buy["product_id"],
                parse_time(buy["time"]) or 0,
                "app_id" in buy,
                buy["price"],
                buy["quantity"],
            )
        )
    return {"attributes": attributes, "events": evs, "purchases": buys}


# -- random filters ----------------------------------------------------------------------------


def random_leaf(rng: random.Random, app_id: str) -> dict[str, Any]:
    """One random leaf (every operator is reachable)."""
    kind = rng.choice(["standard", "custom", "custom", "event", "event", "purchase", "app"])
    if kind == "standard":
        field, op = rng.choice(
            [
                ("country", "equals"),
                ("country", "not_equals"),
                ("language", "equals"),
                ("gender", "equals"),
                ("email_subscribe", "equals"),
                ("gender", "exists"),
                ("dob", "before"),
                ("dob", "after"),
                ("country", "does_not_exist"),
            ]
        )
        leaf: dict[str, Any] = {"standard_attribute": field, "op": op}
        if op in ("equals", "not_equals"):
            leaf["value"] = {
                "country": rng.choice(COUNTRIES),
                "language": rng.choice(("en", "fr")),
                "gender": rng.choice(("M", "F")),
                "email_subscribe": rng.choice(("opted_in", "subscribed")),
            }[field]
        elif op in ("before", "after"):
            leaf["value"] = f"{rng.randint(1970, 2005)}-06-15"
        return leaf
    if kind == "custom":
        name, op, value = rng.choice(
            [
                ("plan", "equals", rng.choice(PLANS)),
                ("plan", "not_equals", rng.choice(PLANS)),
                ("score", "greater_than", rng.randint(-3, 15)),
                ("score", "less_than", rng.uniform(-3, 15)),
                ("score", "equals", 7),
                ("vip", "equals", True),
                ("vip", "not_equals", False),
                ("tags", "includes_value", rng.choice(TAG_POOL)),
                ("tags", "does_not_include_value", rng.choice(TAG_POOL)),
                ("plan", "exists", None),
                ("vip", "does_not_exist", None),
                ("signup", "before", iso(NOW - rng.randint(0, 60) * DAY)),
                (
                    "signup",
                    "after",
                    (date(2026, 3, 1) - timedelta(days=rng.randint(0, 60))).isoformat(),
                ),
                ("signup", "within_last_days", rng.randint(1, 40)),
                ("signup", "more_than_days_ago", rng.randint(1, 40)),
                ("mixed", "equals", rng.choice([1, "1", True])),
                ("tags", "equals", "a"),
            ]
        )
        leaf = {"custom_attribute": name, "op": op}
        if value is not None:
            leaf["value"] = value
        return leaf
    if kind == "app":
        return {"app": app_id, "op": rng.choice(["used", "not_used"])}
    target: Any = rng.choice(EVENTS) if kind == "event" else rng.choice([*PRODUCTS, None])
    key = "custom_event" if kind == "event" else "purchase"
    op = rng.choice(
        [
            "count_greater_than",
            "count_less_than",
            "count_equals",
            "first_before",
            "first_after",
            "last_before",
            "last_after",
            "first_more_than_days_ago",
            "first_less_than_days_ago",
            "last_more_than_days_ago",
            "last_less_than_days_ago",
        ]
    )
    leaf = {key: target, "op": op}
    if op.startswith("count"):
        leaf["value"] = rng.randint(0, 4)
        if rng.random() < 0.5:
            leaf["within_last_days"] = rng.choice([1, 3, 7, 14, 21, 30])
    elif op.endswith("days_ago"):
        leaf["value"] = rng.randint(1, 40)
    else:
        leaf["value"] = iso(NOW - rng.randint(0, 45) * DAY)
    return leaf


def random_filter(rng: random.Random, app_id: str, depth: int = 0) -> dict[str, Any]:
    """A random tree of and/or groups, at most three levels deep."""
    if depth >= 2 or rng.random() < 0.35:
        return random_leaf(rng, app_id)
    children = [random_filter(rng, app_id, depth + 1) for _ in range(rng.randint(1, 3))]
    return {rng.choice(["and", "or"]): children}


# -- the brute force ---------------------------------------------------------------------------


def same(a: Any, b: Any) -> bool:
    """Scalar equality: numbers with numbers, booleans with booleans, strings with strings."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return isinstance(a, str) and isinstance(b, str) and a == b


def holds(node: dict[str, Any], world: World, user: str, now: int) -> bool:
    """Does `user` match `node` at instant `now`, from the raw world data."""
    if "and" in node:
        return all(holds(child, world, user, now) for child in node["and"])
    if "or" in node:
        return any(holds(child, world, user, now) for child in node["or"])
    if "app" in node:
        used = any(app for _, _, app in world.events[user]) or any(
            p[2] for p in world.purchases[user]
        )
        return used == (node["op"] == "used")
    op, value = node["op"], node.get("value")
    if "standard_attribute" in node or "custom_attribute" in node:
        if "standard_attribute" in node:
            current = world.standard[user].get(node["standard_attribute"])
        else:
            current = world.custom[user].get(node["custom_attribute"])
        if op == "exists":
            return current is not None
        if op == "does_not_exist":
            return current is None
        if op == "equals":
            return not isinstance(current, list) and same(current, value)
        if op == "not_equals":
            return isinstance(current, list) or not same(current, value)
        if op == "greater_than":
            return (
                not isinstance(current, bool)
                and isinstance(current, int | float)
                and current > value
            )
        if op == "less_than":
            return (
                not isinstance(current, bool)
                and isinstance(current, int | float)
                and current < value
            )
        if op == "includes_value":
            return isinstance(current, list) and any(same(item, value) for item in current)
        if op == "does_not_include_value":
            return not (isinstance(current, list) and any(same(item, value) for item in current))
        moment = parse_time(current)
        if moment is None:
            return False
        if op == "before":
            return moment < (parse_time(value) or 0)
        if op == "after":
            return moment > (parse_time(value) or 0)
        if op == "within_last_days":
            return now - value * DAY <= moment <= now
        return moment < now - value * DAY  # more_than_days_ago
    if "custom_event" in node:
        times = [t for name, t, _ in world.events[user] if name == node["custom_event"]]
    else:
        product = node["purchase"]
        times = [p[1] for p in world.purchases[user] if product is None or p[0] == product]
    if op.startswith("count"):
        if "within_last_days" in node:
            count = sum(1 for t in times if t >= now - node["within_last_days"] * DAY)
        else:
            count = len(times)
        return {
            "count_greater_than": count > value,
            "count_less_than": count < value,
            "count_equals": count == value,
        }[op]
    if not times:
        return False
    moment = min(times) if op.startswith("first") else max(times)
    if op.endswith("_before"):
        return moment < (parse_time(value) or 0)
    if op.endswith("_after"):
        return moment > (parse_time(value) or 0)
    if op.endswith("more_than_days_ago"):
        return moment < now - value * DAY
    return moment > now - value * DAY  # less_than_days_ago


# -- the test ----------------------------------------------------------------------------------


def members_in_db(engine: Engine, segment_ids: dict[str, str]) -> dict[str, set[str]]:
    """segment API id -> external ids of its stored members."""
    with engine.connect() as conn:
        key = {
            str(s): int(i) for s, i in conn.execute(select(segments.c.segment_id, segments.c.id))
        }
        rows = conn.execute(
            select(segment_members.c.segment_id, users.c.external_id).join(
                users, users.c.id == segment_members.c.user_id
            )
        ).all()
    by_key: dict[int, set[str]] = defaultdict(set)
    for sid, ext in rows:
        by_key[int(sid)].add(str(ext))
    return {s: by_key[key[s]] for s in segment_ids}


def sizes_in_db(engine: Engine) -> dict[str, int]:
    """segment API id -> stored size."""
    with engine.connect() as conn:
        return {
            str(s): int(n) for s, n in conn.execute(select(segments.c.segment_id, segments.c.size))
        }


def day_of(ms: int) -> str:
    """The UTC date of an instant."""
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)).date().isoformat()


@pytest.mark.parametrize(
    ("seed", "max_batch"),
    [(1, 97), (2, 97), (3, MAX_BATCH)],
    ids=["small-steps-1", "small-steps-2", "adaptive-steps"],
)
def test_membership_and_tracked_counts_match_brute_force(
    seg_client: TestClient,  # noqa: F811
    engine: Engine,
    workspace: Workspace,
    seed: int,
    max_batch: int,
) -> None:
    rng = random.Random(seed)
    world = World(workspace.app_id)
    filters = {f"s{i}": random_filter(rng, workspace.app_id) for i in range(14)}
    ids = {
        name: create_segment(
            seg_client, workspace.key, {"name": name, "filter": tree}, tracked=True
        )
        for name, tree in filters.items()
    }
    expected_events: dict[str, dict[tuple[str, str], int]] = {n: defaultdict(int) for n in ids}
    expected_buys: dict[str, dict[tuple[str | None, str], list[float]]] = {n: {} for n in ids}
    for phase in range(2):
        before_events = {u: len(v) for u, v in world.events.items()}
        before_buys = {u: len(v) for u, v in world.purchases.items()}
        body = random_phase(rng, world, 40 + 10 * phase, phase)
        track(seg_client, workspace.key, body)
        # small batches: many steps, partial logs; or as big as the backlog (one step)
        catch_up(engine, NOW, batch=97, max_batch=max_batch)
        expected = {
            name: {u for u in world.users if holds(tree, world, u, NOW)}
            for name, tree in filters.items()
        }
        stored = members_in_db(engine, {ids[n]: n for n in ids})
        for name in filters:
            assert stored[ids[name]] == expected[name], (phase, name, filters[name])
        assert sizes_in_db(engine) == {ids[n]: len(expected[n]) for n in ids}
        # not vacuous: most segments hold some users but not all of them
        partial = [n for n in ids if 0 < len(expected[n]) < len(world.users)]
        assert len(partial) >= len(ids) // 2, {n: len(expected[n]) for n in ids}
        # this phase's actions count for the segments their user is in after this phase
        for name in ids:
            for user in expected[name]:
                for ev_name, t, _ in world.events[user][before_events.get(user, 0) :]:
                    expected_events[name][(ev_name, day_of(t))] += 1
                for product, t, _, price, quantity in world.purchases[user][
                    before_buys.get(user, 0) :
                ]:
                    for key in (product, None):
                        total = expected_buys[name].setdefault((key, day_of(t)), [0, 0.0])
                        total[0] += quantity
                        total[1] += price * quantity
    ending = {"length": "60", "ending_at": iso(NOW)}
    for name, segment_id in ids.items():
        for ev_name in EVENTS:
            got = seg_client.get(
                "/events/data_series",
                params={"event": ev_name, "segment_id": segment_id, **ending},
                headers=auth(workspace.key),
            )
            assert got.status_code == 200, got.text
            counts = {p["time"]: p["count"] for p in got.json()["data"] if p["count"]}
            want = {d: n for (e, d), n in expected_events[name].items() if e == ev_name and n}
            assert counts == want, (name, ev_name)
        for product in (*PRODUCTS, None):
            params = {"segment_id": segment_id, **ending}
            if product is not None:
                params["product"] = product
            got = seg_client.get(
                "/purchases/quantity_series", params=params, headers=auth(workspace.key)
            )
            quantities = {
                p["time"]: p["purchase_quantity"]
                for p in got.json()["data"]
                if p["purchase_quantity"]
            }
            want_q = {d: int(t[0]) for (p, d), t in expected_buys[name].items() if p == product}
            assert quantities == want_q, (name, product)
            got = seg_client.get(
                "/purchases/revenue_series", params=params, headers=auth(workspace.key)
            )
            revenues = {p["time"]: p["revenue"] for p in got.json()["data"] if p["revenue"]}
            want_r = {d: t[1] for (p, d), t in expected_buys[name].items() if p == product}
            assert revenues.keys() == want_r.keys()
            for day, revenue in want_r.items():
                assert revenues[day] == pytest.approx(revenue), (name, product, day)
    # time alone moves some users in or out: re-checks catch exactly those
    for later in (NOW + 3 * DAY, NOW + 20 * DAY):
        catch_up(engine, later, batch=97, max_batch=max_batch)
        stored = members_in_db(engine, {ids[n]: n for n in ids})
        for name, tree in filters.items():
            want_members = {u for u in world.users if holds(tree, world, u, later)}
            assert stored[ids[name]] == want_members, (later, name, tree)
