"""The synthetic workload (apps, users, a long tail of event names, bodies), from fixed seeds."""

from __future__ import annotations

import itertools
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

# Bump when the generated data changes shape, so cached prefills are rebuilt.
GENERATOR_VERSION = 1

WORKSPACE_ID = 1
USERS = 100_000
EVENT_NAMES = 500
APPS = 10
EVENTS_PER_REQUEST = 75
ZIPF_EXPONENT = 1.0
HISTORY_DAYS = 100
CATALOG_SEED = 20_261_120

# Share of traffic per app (the first apps are the big mobile apps) and of app-less events.
_APP_WEIGHTS = (30.0, 22.0, 14.0, 9.0, 7.0, 5.0, 4.0, 3.0, 2.0, 1.0)
_NO_APP_WEIGHT = 3.0  # prefilled history only: some server-side events carry no app_id

_PAGES = ("home", "search", "product", "cart", "checkout", "account", "help", "offers")
_PLANS = ("free", "basic", "plus", "pro", "team", "enterprise")
_CHANNELS = ("ios", "android", "web", "email", "push", "sms")


@dataclass(frozen=True, slots=True)
class Catalog:
    """Identities every side shares: app api ids, event names and their popularity."""

    app_api_ids: tuple[str, ...]  # index i is apps.id i + 1
    event_names: tuple[str, ...]  # index i is custom_events.id i + 1
    event_cum_weights: tuple[float, ...]  # Zipf-like, over event ids in id order
    app_cum_weights: tuple[float, ...]  # over app ids 1..APPS

    def event_share(self, event_id: int) -> float:
        """Fraction of traffic that goes to one event id (for printing the tail's shape)."""
        weights = self.event_cum_weights
        previous = weights[event_id - 2] if event_id > 1 else 0.0
        return (weights[event_id - 1] - previous) / weights[-1]


def make_catalog() -> Catalog:
    """Build the deterministic catalog: 10 apps, 500 names whose popularity follows Zipf."""
    rng = random.Random(CATALOG_SEED)
    api_ids = tuple(str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(APPS))
    names = tuple(f"event_name_{k}" for k in range(1, EVENT_NAMES + 1))
    # Popularity rank is shuffled over ids so the hot names are not simply the first ones.
    ranks = list(range(EVENT_NAMES))
    rng.shuffle(ranks)
    weights = [1.0 / (ranks[i] + 1) ** ZIPF_EXPONENT for i in range(EVENT_NAMES)]
    return Catalog(
        app_api_ids=api_ids,
        event_names=names,
        event_cum_weights=tuple(itertools.accumulate(weights)),
        app_cum_weights=tuple(itertools.accumulate(_APP_WEIGHTS)),
    )


def make_properties(rng: random.Random) -> dict[str, Any]:
    """Five scalar properties: a string, an int, a float, a bool and a short string."""
    return {
        "page": f"/{rng.choice(_PAGES)}/{rng.randrange(10_000)}?plan={rng.choice(_PLANS)}",
        "item_count": rng.randrange(1, 50),
        "amount": round(rng.uniform(0.5, 500.0), 2),
        "is_member": rng.random() < 0.35,
        "channel": rng.choice(_CHANNELS),
    }


def properties_pool(size: int, seed: int) -> list[str]:
    """Pre-serialized property objects (as heron stores them) to draw prefilled rows from."""
    rng = random.Random(seed)
    return [orjson.dumps(make_properties(rng)).decode() for _ in range(size)]


def braze_id(rng: random.Random) -> str:
    """A 24-hex-character identifier shaped like Braze's `braze_id`."""
    return f"{rng.getrandbits(96):024x}"


def iso_time(ms: int) -> str:
    """UTC ISO 8601 with milliseconds and a `Z`, as SDKs send `time`."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def draw_events(catalog: Catalog, rng: random.Random, count: int, now_ms: int) -> list[Any]:
    """`count` valid events: Zipf-popular names, weighted apps, timed within the last minute."""
    names = rng.choices(range(1, EVENT_NAMES + 1), cum_weights=catalog.event_cum_weights, k=count)
    apps = rng.choices(range(1, APPS + 1), cum_weights=catalog.app_cum_weights, k=count)
    return [
        {
            "external_id": f"user-{rng.randrange(1, USERS + 1)}",
            "app_id": catalog.app_api_ids[app - 1],
            "name": catalog.event_names[name - 1],
            "time": iso_time(now_ms - rng.randrange(60_000)),
            "properties": make_properties(rng),
        }
        for name, app in zip(names, apps, strict=True)
    ]


def build_bodies(catalog: Catalog, count: int, now_ms: int, seed: int = 7) -> list[bytes]:
    """`count` distinct `/users/track` bodies of 75 valid events, timed within the last minute."""
    rng = random.Random(seed)
    return [
        orjson.dumps({"events": draw_events(catalog, rng, EVENTS_PER_REQUEST, now_ms)})
        for _ in range(count)
    ]


def history_app_cum_weights(catalog: Catalog) -> tuple[float, ...]:
    """Cumulative weights over apps 1..APPS followed by "no app" (drawn as app index 0)."""
    return (*catalog.app_cum_weights, catalog.app_cum_weights[-1] + _NO_APP_WEIGHT)
