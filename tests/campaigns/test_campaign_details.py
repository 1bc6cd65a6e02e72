"""Management API and `GET /campaigns/details`, field by field against the seed's JSON."""

from __future__ import annotations

import pytest
from campaign_helpers import FULL, MORE_BEHAVIORS, SURVEY, create, definition, get, post
from starlette.testclient import TestClient

from conftest import Workspace

# The seed's top-level fields of /campaigns/details, plus those spec section 7 adds.
SEED_FIELDS = {
    "message", "created_at", "updated_at", "archived", "draft", "name", "description",
    "schedule_type", "channels", "first_sent", "last_sent", "tags", "messages",
    "conversion_behaviors",
}  # fmt: skip
SPEC_FIELDS = {"enabled", "has_post_launch_draft", "teams"}


def test_details_has_every_field_of_the_seed_and_spec(
    client: TestClient, workspace: Workspace
) -> None:
    created = create(client, workspace, definition(id="spring-sale"))
    assert created["id"] == "spring-sale"
    response = get(client, workspace, "/campaigns/details", campaign_id="spring-sale")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == SEED_FIELDS | SPEC_FIELDS
    assert body["message"] == "success"
    assert body["created_at"] == body["updated_at"] == created["created_at"]
    assert body["created_at"].endswith("+00:00")
    assert (body["archived"], body["draft"], body["enabled"]) == (False, False, True)
    assert body["has_post_launch_draft"] is False
    assert (body["name"], body["description"]) == ("Spring sale", "Every channel at once")
    assert body["schedule_type"] == "time_based"
    assert body["channels"] == [
        "ios_push", "android_push", "web_push", "email", "webhook", "sms", "content_cards",
        "in-app_message",
    ]  # fmt: skip
    assert (body["first_sent"], body["last_sent"]) == (None, None)
    assert (body["tags"], body["teams"]) == (["promo", "spring"], ["Growth"])
    assert list(body["messages"]) == list(FULL["messages"])


def test_messages_carry_the_channel_fields_the_seed_shows(
    client: TestClient, workspace: Workspace
) -> None:
    create(client, workspace, definition(id="c"))
    messages = get(client, workspace, "/campaigns/details", campaign_id="c").json()["messages"]
    # push: the seed's channel, alert, extras; the spec adds title, action and images
    assert messages["ios-1"] == {
        "channel": "ios_push",
        "name": "Variation 1",
        "alert": "Sale starts now",
        "title": "Spring",
        "action": None,
        "image_url": None,
        "large_image_url": None,
        "extras": {"deep_link": "app://sale"},
    }
    assert messages["android-1"]["channel"] == "android_push"
    assert messages["android-1"]["extras"] == {}
    assert messages["web-1"]["image_url"] == "https://cdn.example.com/a.png"
    assert messages["email-1"] == {
        "channel": "email",
        "name": "Variation 4",
        "subject": "Our spring sale",
        "body": "<p>Hello</p>",
        "from": "Shop <news@example.com>",
        "reply_to": "help@example.com",
        "title": "Spring email",
        "amp_body": None,
        "preheader": None,
        "custom_plain_text": None,
        "should_inline_css": False,
        "should_whitespace_header": False,
        "email_headers": {},
        "extras": {"campaign": "spring"},
    }
    assert messages["webhook-1"] == {
        "channel": "webhook",
        "name": "Variation 5",
        "url": "https://hooks.example.com/sale",
        "body": '{"sale": true}',
        "type": "application/json",
        "headers": {"X-Token": "abc"},
        "method": "POST",
    }
    assert messages["sms-1"] == {
        "channel": "sms",
        "name": "Variation 6",
        "body": "Sale today",
        "from": "+15555550100",
        "subscription_group_id": "sg-1",
    }
    # content cards: extras only present if at least one key-value pair has been set
    assert messages["card-1"] == {"channel": "content_cards", "name": "Variation 7"}
    assert messages["card-2"] == {
        "channel": "content_cards",
        "name": "Variation 8",
        "extras": {"k": "v"},
    }
    survey = messages["survey-1"]
    assert survey == {
        "channel": "in-app_message",
        "name": "Variation 9",
        "type": "survey",
        "data": {
            "pages": [
                {
                    "header": {"text": "How did we do?"},
                    "choices": [
                        SURVEY["pages"][0]["choices"][0],  # type: ignore[index]
                        {
                            "choice_id": "c2",
                            "text": "Meh",
                            "custom_attribute_key": None,
                            "custom_attribute_value": None,
                            "deleted": True,
                        },
                    ],
                }
            ]
        },
    }
    assert messages["control-1"] == {"channel": "email", "name": "Control Group", "type": "control"}


def test_conversion_behaviors_keep_their_order_and_fields(
    client: TestClient, workspace: Workspace
) -> None:
    behaviors = [*MORE_BEHAVIORS, *FULL["conversion_behaviors"]][:4]
    create(client, workspace, definition(id="c", conversion_behaviors=behaviors))
    body = get(client, workspace, "/campaigns/details", campaign_id="c").json()
    assert body["conversion_behaviors"] == [
        {"type": "Makes Any Purchase", "window": 86400},
        {"type": "Upgrades App", "window": 86400, "app_ids": ["12345", "67890"]},
        {"type": "Starts Session", "window": 86400, "app_ids": None},
        {"type": "Clicks Email", "window": 86400},
    ]
    create(client, workspace, definition(id="d"))
    body = get(client, workspace, "/campaigns/details", campaign_id="d").json()
    assert body["conversion_behaviors"] == [
        {"type": "Clicks Email", "window": 86400},
        {"type": "Opens Email", "window": 3600},
        {"type": "Makes Specific Purchase", "window": 86400, "product": "Feline Body Armor"},
        {
            "type": "Performs Custom Event",
            "window": 86400,
            "custom_event_name": "Used Feline Body Armor",
        },
    ]


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"name": ""}, "$.name"),
        ({"schedule_type": "sometimes"}, "$.schedule_type"),
        ({"tags": ["ok", 3]}, "$.tags[1]"),
        ({"messages": {"v": {"channel": "email", "name": "V", "subject": "s"}}}, "$.messages['v']"),
        (
            {"messages": {"v": {"channel": "webhook", "name": "V", "url": "ftp://x"}}},
            "$.messages['v'].url",
        ),
        ({"messages": {"v": {"channel": "fax", "name": "V"}}}, "$.messages['v'].channel"),
        (
            {
                "messages": {
                    "v": {
                        "channel": "in-app_message",
                        "name": "V",
                        "type": "survey",
                        "data": {"pages": [{"header": {"text": "h"}, "choices": []}]},
                    }
                }
            },
            "$.messages['v'].data.pages[0].choices",
        ),
        ({"messages": {"v": {"channel": "sms", "type": "control", "x": 1}}}, "$.messages['v']"),
        ({"conversion_behaviors": [{"type": "Clicks Email"}]}, "$.conversion_behaviors[0]"),
        (
            {"conversion_behaviors": [{"type": "Makes Specific Purchase", "window": 60}]},
            "$.conversion_behaviors[0]",
        ),
        (
            {"conversion_behaviors": [{"type": "Opens Email", "window": 0}]},
            "$.conversion_behaviors[0].window",
        ),
        (
            {"conversion_behaviors": [{"type": "Visits", "window": 1}]},
            "$.conversion_behaviors[0].type",
        ),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_definitions_are_refused_naming_the_field(
    client: TestClient, workspace: Workspace, change: dict[str, object], where: str
) -> None:
    response = post(client, workspace.key, "/heron/v1/campaigns", definition(**change))
    assert response.status_code == 400, response.text
    assert where in response.json()["message"]
    assert get(client, workspace, "/heron/v1/campaigns").json()["campaigns"] == []


def test_edit_keeps_created_at_and_moves_updated_at(
    client: TestClient, workspace: Workspace
) -> None:
    created = create(client, workspace, definition(id="c"))
    response = post(
        client,
        workspace.key,
        "/heron/v1/campaigns/update",
        {"campaign_id": "c", "name": "Summer sale", "draft": True},
    )
    assert response.status_code == 200, response.text
    edited = response.json()["campaign"]
    assert edited["created_at"] == created["created_at"]
    assert (edited["name"], edited["draft"], edited["tags"]) == ("Summer sale", True, FULL["tags"])
    details = get(client, workspace, "/campaigns/details", campaign_id="c").json()
    assert details["updated_at"] == edited["updated_at"] >= created["updated_at"]
    # an invalid edit changes nothing
    bad = post(
        client, workspace.key, "/heron/v1/campaigns/update", {"campaign_id": "c", "tags": "x"}
    )
    assert bad.status_code == 400 and "$.tags" in bad.json()["message"]
    assert get(client, workspace, "/campaigns/details", campaign_id="c").json() == details


def test_management_errors(client: TestClient, workspace: Workspace) -> None:
    create(client, workspace, definition(id="c"))
    again = post(client, workspace.key, "/heron/v1/campaigns", definition(id="c"))
    assert (again.status_code, again.json()) == (409, {"message": "campaign 'c' exists already"})
    bad_id = post(client, workspace.key, "/heron/v1/campaigns", definition(id="a b"))
    assert bad_id.status_code == 400 and "'id'" in bad_id.json()["message"]
    for path in ("update", "archive", "unarchive"):
        missing = post(client, workspace.key, f"/heron/v1/campaigns/{path}", {"campaign_id": "x"})
        assert (missing.status_code, missing.json()) == (
            404,
            {"message": "campaign 'x' does not exist"},
        )
        no_id = post(client, workspace.key, f"/heron/v1/campaigns/{path}", {})
        assert (no_id.status_code, no_id.json()) == (400, {"message": "'campaign_id' is required"})
    for path in ("/campaigns/details", "/heron/v1/campaigns/details"):
        assert get(client, workspace, path).json() == {"message": "'campaign_id' is required"}
        assert get(client, workspace, path, campaign_id="x").status_code == 404
    assert (
        get(client, workspace, "/campaigns/details", campaign_id="c", post_launch_draft_version="x")
    ).status_code == 400
    shown = get(
        client, workspace, "/campaigns/details", campaign_id="c", post_launch_draft_version="true"
    )
    assert shown.status_code == 200 and shown.json()["has_post_launch_draft"] is False


def test_a_generated_id_is_a_uuid(client: TestClient, workspace: Workspace) -> None:
    item = create(client, workspace, {"name": "Minimal"})
    assert len(item["id"]) == 36 and item["id"].count("-") == 4
    assert item["messages"] == {} and item["channels"] == []
    assert (item["schedule_type"], item["enabled"], item["draft"]) == ("time_based", True, False)
