"""Helpers shared by the campaign tests: a definition with every channel, users, tracking."""

from __future__ import annotations

import copy
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from conftest import Workspace, auth
from heron.store.schema import users

SURVEY = {
    "pages": [
        {
            "header": {"text": "How did we do?"},
            "choices": [
                {
                    "choice_id": "c1",
                    "text": "Great",
                    "custom_attribute_key": "satisfaction",
                    "custom_attribute_value": "great",
                    "deleted": False,
                },
                {"choice_id": "c2", "text": "Meh", "deleted": True},
            ],
        }
    ]
}

# One variation per channel of the seed and the spec, a control group, every behaviour type.
FULL: dict[str, Any] = {
    "name": "Spring sale",
    "description": "Every channel at once",
    "tags": ["promo", "spring"],
    "teams": ["Growth"],
    "schedule_type": "time_based",
    "messages": {
        "ios-1": {
            "channel": "ios_push",
            "name": "Variation 1",
            "alert": "Sale starts now",
            "title": "Spring",
            "extras": {"deep_link": "app://sale"},
        },
        "android-1": {"channel": "android_push", "name": "Variation 2", "alert": "Sale!"},
        "web-1": {
            "channel": "web_push",
            "name": "Variation 3",
            "alert": "Sale",
            "image_url": "https://cdn.example.com/a.png",
        },
        "email-1": {
            "channel": "email",
            "name": "Variation 4",
            "subject": "Our spring sale",
            "body": "<p>Hello</p>",
            "from": "Shop <news@example.com>",
            "reply_to": "help@example.com",
            "title": "Spring email",
            "extras": {"campaign": "spring"},
        },
        "webhook-1": {
            "channel": "webhook",
            "name": "Variation 5",
            "url": "https://hooks.example.com/sale",
            "body": '{"sale": true}',
            "type": "application/json",
            "headers": {"X-Token": "abc"},
            "method": "POST",
        },
        "sms-1": {
            "channel": "sms",
            "name": "Variation 6",
            "body": "Sale today",
            "from": "+15555550100",
            "subscription_group_id": "sg-1",
        },
        "card-1": {"channel": "content_cards", "name": "Variation 7"},
        "card-2": {"channel": "content_cards", "name": "Variation 8", "extras": {"k": "v"}},
        "survey-1": {
            "channel": "in-app_message",
            "name": "Variation 9",
            "type": "survey",
            "data": SURVEY,
        },
        "control-1": {"channel": "email", "type": "control"},
    },
    "conversion_behaviors": [
        {"type": "Clicks Email", "window": 86400},
        {"type": "Opens Email", "window": 3600},
        {"type": "Makes Specific Purchase", "window": 86400, "product": "Feline Body Armor"},
        {
            "type": "Performs Custom Event",
            "window": 86400,
            "custom_event_name": "Used Feline Body Armor",
        },
    ],
}

MORE_BEHAVIORS = [
    {"type": "Makes Any Purchase", "window": 86400},
    {"type": "Upgrades App", "window": 86400, "app_ids": ["12345", "67890"]},
    {"type": "Starts Session", "window": 86400, "app_ids": None},
]


def definition(**changes: Any) -> dict[str, Any]:
    """A copy of FULL with top-level fields replaced."""
    found = copy.deepcopy(FULL)
    found.update(changes)
    return found


def post(client: TestClient, key: str, path: str, body: Any) -> Any:
    """POST a JSON body with a key."""
    return client.post(path, content=json.dumps(body), headers=auth(key))


def create(client: TestClient, ws: Workspace, body: dict[str, Any]) -> dict[str, Any]:
    """Create a campaign through the management API; its managed item."""
    response = post(client, ws.key, "/heron/v1/campaigns", body)
    assert response.status_code == 201, response.text
    item: dict[str, Any] = response.json()["campaign"]
    return item


def get(client: TestClient, ws: Workspace, path: str, **params: str) -> Any:
    """GET with a key."""
    return client.get(path, params=params, headers=auth(ws.key))


def track(client: TestClient, ws: Workspace, body: dict[str, Any]) -> None:
    """POST /users/track and check everything was processed."""
    response = post(client, ws.key, "/users/track", body)
    assert response.status_code == 201, response.text
    assert "errors" not in response.json(), response.text


def user_ids(
    client: TestClient, engine: Engine, ws: Workspace, *external_ids: str
) -> dict[str, int]:
    """Create users (by tracking an attribute) and return external_id -> users.id."""
    track(client, ws, {"attributes": [{"external_id": x, "first_name": x} for x in external_ids]})
    with engine.connect() as conn:
        rows = conn.execute(
            select(users.c.external_id, users.c.id).where(
                users.c.workspace_id == ws.id, users.c.external_id.in_(external_ids)
            )
        )
        return {str(x): int(i) for x, i in rows}
