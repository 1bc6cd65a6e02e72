"""Compiled checks (the evaluator's fast path) agree with `evaluate` on random trees and facts."""

from __future__ import annotations

import random

import pytest
from test_brute_force import (
    COUNTRIES,
    DAY,
    EVENTS,
    NOW,
    PLANS,
    PRODUCTS,
    TAG_POOL,
    iso,
    random_filter,
)

from heron.segments.compiled import compile_filter
from heron.segments.definition import parse_filter
from heron.segments.evaluate import Facts, evaluate

APP = "0b6d0c6e-0000-4000-8000-000000000001"


def random_facts(rng: random.Random) -> Facts:
    """A user with random attributes, history summaries and window times (some absent)."""
    standard = {
        k: v
        for k, v in {
            "country": rng.choice([*COUNTRIES, None]),
            "language": rng.choice(["en", "fr", None]),
            "gender": rng.choice(["M", "F", None]),
            "dob": rng.choice([f"{rng.randint(1970, 2005)}-06-15", None]),
        }.items()
        if v is not None
    }
    custom = {
        "plan": rng.choice([*PLANS, None]),
        "score": rng.choice([rng.randint(-3, 15), rng.uniform(-3, 15), "7", None]),
        "vip": rng.choice([True, False, None]),
        "tags": rng.choice([rng.sample(TAG_POOL, rng.randint(0, 3)), None]),
        "signup": rng.choice([iso(NOW - rng.randint(-2, 60) * DAY), None]),
        "mixed": rng.choice([1, "1", True, 1.0, None]),
    }
    custom = {k: v for k, v in custom.items() if v is not None}
    facts = Facts(standard, custom)
    for name in EVENTS:
        times = sorted(NOW - rng.randint(0, 50 * DAY) for _ in range(rng.randint(0, 4)))
        if times:
            facts.events[name] = (len(times), times[0], times[-1])
            facts.event_times[name] = [t for t in times if t >= NOW - 30 * DAY]
    for product in (*PRODUCTS, None):
        times = sorted(NOW - rng.randint(0, 50 * DAY) for _ in range(rng.randint(0, 3)))
        if times:
            facts.purchases[product] = (len(times), times[0], times[-1])
            facts.purchase_times[product] = [t for t in times if t >= NOW - 30 * DAY]
    facts.apps = frozenset([APP]) if rng.random() < 0.5 else frozenset()
    return facts


@pytest.mark.parametrize("seed", range(4))
def test_compiled_checks_agree_with_evaluate(seed: int) -> None:
    """Same answer now and at later instants; the answer holds until the re-check instant."""
    rng = random.Random(seed)
    for _ in range(60):
        node = parse_filter(random_filter(rng, APP))
        check = compile_filter(node)
        for _ in range(10):
            facts = random_facts(rng)
            for now in (NOW, NOW + 3 * DAY, NOW + 20 * DAY):
                expected = evaluate(node, facts, now)
                got = check(facts, now)
                assert got[0] == expected[0], node
                # until the re-check instant (None: ever), time alone does not change the answer
                # (a settled group stops early, so its instant may be later than evaluate's)
                for hours in range(0, 60 * 24, 13):
                    later = now + hours * 3_600_000
                    if got[1] is not None and later >= got[1]:
                        break
                    assert evaluate(node, facts, later)[0] == got[0], (node, later)
