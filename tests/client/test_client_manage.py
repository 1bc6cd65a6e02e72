"""heron's segment and campaign management API through `Braze` and `AsyncBraze`, on a real heron.

Success, Braze-shaped refusals mapped to the client's exceptions, and paging through
`/heron/v1/campaigns` (100 per page) on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from heronserver import Heron, running_heron

from heron_client import (
    AsyncBraze,
    BadRequestError,
    Braze,
    ConflictError,
    ManagedCampaign,
    NotFoundError,
    PermissionDeniedError,
)

FRANCE = {"standard_attribute": "country", "op": "equals", "value": "FR"}
EMAIL = {"channel": "email", "name": "Variation 1", "subject": "Hi", "body": "<p>Hi</p>",
         "from": "Shop <news@example.com>"}  # fmt: skip


@pytest.fixture(scope="module")
def heron(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Heron]:
    """One real server for the module, on a fresh database of the backend under test."""
    with running_heron(tmp_path_factory.mktemp("heron")) as server:
        yield server


@pytest.fixture
def braze(heron: Heron) -> Iterator[Braze]:
    """A sync client with the all-permissions key."""
    with Braze(heron.key, heron.url) as client:
        yield client


def test_segment_lifecycle(braze: Braze) -> None:
    """Create, read, update, track, archive, unarchive and delete one segment definition."""
    created = braze.segment_create(
        {"name": "French", "description": "in France", "tags": ["geo"], "filter": FRANCE}
    )
    segment_id = created["segment_id"]
    assert created["name"] == "French" and created["filter"] == FRANCE
    assert created["tags"] == ["geo"] and created["archived"] is False
    assert braze.segment_definition(segment_id)["description"] == "in France"

    updated = braze.segment_update(segment_id, {"name": "France", "tags": []})
    assert updated["name"] == "France" and updated["tags"] == [] and updated["filter"] == FRANCE
    assert braze.segment_tracking(segment_id, True)["analytics_tracking_enabled"] is True
    assert [s["id"] for s in braze.segments_list()] == [segment_id]  # Braze's list sees it

    assert braze.segment_archive(segment_id)["archived"] is True
    assert segment_id not in [s["segment_id"] for s in braze.segment_definitions()]
    listed = list(braze.iter_segment_definitions(include_archived=True))
    assert [s["segment_id"] for s in listed] == [segment_id]
    assert braze.segment_unarchive(segment_id)["archived"] is False

    assert braze.segment_delete(segment_id) == {"message": "success"}
    with pytest.raises(NotFoundError) as caught:
        braze.segment_definition(segment_id)
    assert caught.value.status == 404 and segment_id in caught.value.message


def test_segment_refusals(braze: Braze) -> None:
    """A bad filter is a 400 naming the node; unknown segments are 404; `enabled` is checked."""
    bad = {"name": "bad", "filter": {"and": [{**FRANCE, "op": "sounds_like"}]}}
    with pytest.raises(BadRequestError) as caught:
        braze.segment_create(bad)
    assert "$.filter.and[0]" in caught.value.message
    with pytest.raises(BadRequestError):
        braze.segment_create({"name": "no filter"})
    for call in (braze.segment_archive, braze.segment_delete, braze.segment_definition):
        with pytest.raises(NotFoundError):
            call("no-such-segment")
    with pytest.raises(NotFoundError):
        braze.segment_update("no-such-segment", {"name": "x"})
    segment_id = braze.segment_create({"name": "flags", "filter": FRANCE})["segment_id"]
    with pytest.raises(BadRequestError) as refused:
        braze.segment_tracking(segment_id, "yes")  # type: ignore[arg-type]
    assert "enabled" in refused.value.message
    braze.segment_delete(segment_id)


def test_campaign_lifecycle(braze: Braze) -> None:
    """Create (with and without an id), read, update, archive and unarchive a campaign."""
    created = braze.campaign_create(
        {"name": "Spring sale", "tags": ["promo"], "messages": {"email-1": EMAIL}},
        campaign_id="spring-2026",
    )
    assert created["id"] == "spring-2026" and created["channels"] == ["email"]
    assert created["messages"]["email-1"]["subject"] == "Hi"
    fresh = braze.campaign_create({"name": "Generated id"})
    assert fresh["id"] and fresh["id"] != "spring-2026"

    updated = braze.campaign_update("spring-2026", {"description": "20% off"})
    assert updated["description"] == "20% off" and updated["tags"] == ["promo"]
    assert braze.campaign_definition("spring-2026")["description"] == "20% off"
    assert braze.campaign_details("spring-2026")["name"] == "Spring sale"  # Braze's export

    assert braze.campaign_archive("spring-2026")["archived"] is True
    current = {c["id"] for c in braze.iter_campaign_definitions()}
    assert "spring-2026" not in current and fresh["id"] in current
    everything = {c["id"] for c in braze.iter_campaign_definitions(include_archived=True)}
    assert "spring-2026" in everything
    assert braze.campaign_unarchive("spring-2026")["archived"] is False


def test_campaign_refusals(braze: Braze) -> None:
    """Taken ids are 409, invalid definitions 400 with the JSON path, unknown ids 404."""
    braze.campaign_create({"name": "Taken"}, campaign_id="taken-id")
    with pytest.raises(ConflictError) as conflict:
        braze.campaign_create({"name": "Again"}, campaign_id="taken-id")
    assert conflict.value.status == 409
    bad = {"name": "Bad", "conversion_behaviors": [{"type": "Makes Any Purchase", "window": 0}]}
    with pytest.raises(BadRequestError) as caught:
        braze.campaign_create(bad)
    assert "$.conversion_behaviors[0].window" in caught.value.message
    with pytest.raises(BadRequestError):
        braze.campaign_update("taken-id", {"unknown_field": 1})
    for call in (braze.campaign_definition, braze.campaign_archive, braze.campaign_unarchive):
        with pytest.raises(NotFoundError):
            call("no-such-campaign")


def test_campaign_definitions_page_by_page(braze: Braze) -> None:
    """`iter_campaign_definitions` reads every page of 100, each campaign once, oldest first."""
    ids = [
        braze.campaign_create({"name": f"Paged {i}"}, campaign_id=f"paged-{i:03d}")["id"]
        for i in range(101)
    ]
    first = braze.campaign_definitions()
    assert len(first) == 100
    assert braze.campaign_definitions(page=1, include_archived=True)
    listed = [c["id"] for c in braze.iter_campaign_definitions(include_archived=True)]
    assert len(listed) == len(set(listed))
    assert [i for i in listed if i.startswith("paged-")] == ids


def test_management_needs_its_permission(heron: Heron) -> None:
    """A key without `heron.*.manage` gets PermissionDeniedError (403)."""
    with Braze(heron.events_list_key, heron.url) as limited:
        with pytest.raises(PermissionDeniedError):
            limited.segment_definitions()
        with pytest.raises(PermissionDeniedError):
            limited.campaign_definitions()


def test_async_management(heron: Heron) -> None:
    """`AsyncBraze`: the same methods as coroutines, the iterators as async iterators."""

    async def scenario() -> tuple[list[Any], list[ManagedCampaign], Any]:
        async with AsyncBraze(heron.key, heron.url) as braze:
            segment = await braze.segment_create({"name": "async seg", "filter": FRANCE})
            await braze.segment_tracking(segment["segment_id"], False)
            segments = [s["name"] async for s in braze.iter_segment_definitions()]
            await braze.segment_delete(segment["segment_id"])
            await braze.campaign_create({"name": "async"}, campaign_id="async-1")
            await braze.campaign_update("async-1", {"tags": ["a"]})
            campaigns = [c async for c in braze.iter_campaign_definitions()]
            with pytest.raises(NotFoundError):
                await braze.campaign_definition("nope")
            return segments, campaigns, await braze.health()

    segments, campaigns, health = asyncio.run(scenario())
    assert "async seg" in segments
    assert [c["tags"] for c in campaigns if c["id"] == "async-1"] == [["a"]]
    assert health == {"status": "ok"}
