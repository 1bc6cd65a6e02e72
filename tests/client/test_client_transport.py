"""The import's lean HTTP (`heron.tools.transport`): under AsyncBraze and as `TrackLane`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from fakeserver import Drop, FakeBraze, Reply, Sleep

from heron.tools.transport import StreamTransport, TrackLane
from heron_client import (
    APIConnectionError,
    APITimeoutError,
    AsyncBraze,
    BadRequestError,
    MalformedResponseError,
    RetryPolicy,
    ServerError,
)

FAST = RetryPolicy(max_retries=2, backoff_base=0.01, backoff_max=0.02)
NAMES = {"message": "success", "events": ["a"]}


@pytest.fixture
def fake() -> Iterator[FakeBraze]:
    """A running fake server."""
    with FakeBraze() as server:
        yield server


def lean(fake: FakeBraze, retry: RetryPolicy = FAST, timeout: float = 5.0) -> AsyncBraze:
    """An async client on the stream transport."""
    return AsyncBraze(
        "key", fake.base_url, retry=retry, timeout=timeout, transport=StreamTransport()
    )


def test_requests_answers_and_keep_alive(fake: FakeBraze) -> None:
    """Bodies, query strings, headers and answers go through; `Connection: close` reconnects."""
    fake.script("/events/list", Reply(200, NAMES, {"Connection": "close"}), Reply(200, NAMES))

    async def scenario() -> None:
        async with lean(fake) as client:
            answer = await client.track(events=[{"external_id": "u", "name": "e", "time": "t"}])
            assert answer == {"message": "success", "events_processed": 1}
            assert await client.events_list(page=3) == ["a"]
            assert await client.events_list() == ["a"]
            report = await client.track_all(events=[{"external_id": f"u{i}"} for i in range(80)])
            assert report.ok and report.requests == 2

    asyncio.run(scenario())
    track = fake.requests_to("/users/track")[0]
    assert json.loads(track.body) == {"events": [{"external_id": "u", "name": "e", "time": "t"}]}
    assert track.headers["authorization"] == "Bearer key"
    assert track.headers["idempotency-key"].startswith("heron-client-")
    assert [s.query for s in fake.requests_to("/events/list")] == ["page=3", ""]


def test_failures_map_to_client_errors(fake: FakeBraze) -> None:
    """Dropped connections retry, slow answers time out, 5xx retry, refused ports fail."""
    fake.script("/events/list", Drop(), Reply(200, NAMES))
    fake.script("/events", Sleep(1.0))
    fake.script("/custom_attributes", *[Reply(503, {"message": "busy"})] * 3)

    async def scenario() -> None:
        async with lean(fake, timeout=0.3) as client:
            assert await client.events_list() == ["a"]
        async with lean(fake, RetryPolicy(max_retries=0), timeout=0.3) as client:
            with pytest.raises(APITimeoutError):
                await client.events()
        async with lean(fake) as client:
            with pytest.raises(ServerError):
                await client.custom_attributes()

    asyncio.run(scenario())
    with FakeBraze() as gone:
        url = gone.base_url

    async def refused() -> None:
        async with AsyncBraze("k", url, retry=FAST, transport=StreamTransport()) as client:
            with pytest.raises(APIConnectionError):
                await client.events_list()

    asyncio.run(refused())


def track_lane(fake: FakeBraze, retry: RetryPolicy = FAST, timeout: float = 5.0) -> TrackLane:
    """The importer's lane on the fake."""
    return TrackLane("key", fake.base_url, retry=retry, timeout=timeout)


def test_track_lane_sends_the_body_and_headers_of_track_raw(fake: FakeBraze) -> None:
    """A `TrackLane` request is what `AsyncBraze.track_raw` sends: body, auth, key, types."""
    body = b'{"events":[{"external_id":"u","name":"e","time":"t"}]}'

    async def scenario() -> None:
        lane = track_lane(fake)
        try:
            for n in range(3):  # one keep-alive connection, several requests
                answer = await lane.track_raw(body, idempotency_key=f"k-{n}")
                assert answer == {"message": "success", "events_processed": 1}
        finally:
            await lane.close()

    asyncio.run(scenario())
    seen = fake.requests_to("/users/track")
    assert [s.headers["idempotency-key"] for s in seen] == ["k-0", "k-1", "k-2"]
    for request in seen:
        assert request.method == "POST" and request.body == body
        assert request.headers["authorization"] == "Bearer key"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["accept"] == "application/json"
        assert request.headers["user-agent"].startswith("heron-client/")


def test_track_lane_retries_429_5xx_and_drops_under_the_same_key(fake: FakeBraze) -> None:
    """429 (with its reset header), 5xx and a dropped connection are retried, same key."""
    fake.script(
        "/users/track",
        Reply(429, {"message": "slow down"}, {"X-RateLimit-Reset": "0"}),
        Reply(500, {"message": "oops"}),
        Drop(),
    )
    body = b'{"events":[{"external_id":"u","name":"e","time":"t"}]}'

    async def scenario() -> None:
        lane = track_lane(fake, RetryPolicy(max_retries=3, backoff_base=0.01, backoff_max=0.02))
        try:
            answer = await lane.track_raw(body, idempotency_key="same")
        finally:
            await lane.close()
        assert answer["events_processed"] == 1

    asyncio.run(scenario())
    seen = fake.requests_to("/users/track")
    assert len(seen) == 4 and {s.headers["idempotency-key"] for s in seen} == {"same"}
    assert len(fake.stored) == 1


def test_track_lane_raises_the_client_errors(fake: FakeBraze) -> None:
    """Final answers raise what `AsyncBraze` raises; a non-JSON 2xx is malformed."""
    fake.script(
        "/users/track",
        Reply(400, {"message": "bad", "errors": ["x"]}),
        *[Reply(503, {"message": "busy"})] * 3,
        Reply(201, b"<html>proxy</html>"),
        Sleep(1.0),
    )

    async def scenario() -> None:
        lane = track_lane(fake, timeout=0.3)
        try:
            with pytest.raises(BadRequestError) as bad:
                await lane.track_raw(b"{}", idempotency_key="a")
            assert bad.value.status == 400 and bad.value.errors == ["x"]
            with pytest.raises(ServerError):
                await lane.track_raw(b"{}", idempotency_key="b")
            with pytest.raises(MalformedResponseError):
                await lane.track_raw(b"{}", idempotency_key="c")
        finally:
            await lane.close()
        slow = track_lane(fake, RetryPolicy(max_retries=0), timeout=0.3)
        try:
            with pytest.raises(APITimeoutError):
                await slow.track_raw(b"{}", idempotency_key="d")
        finally:
            await slow.close()

    asyncio.run(scenario())
    with FakeBraze() as gone:
        url = gone.base_url

    async def refused() -> None:
        lane = TrackLane("k", url, retry=FAST)
        try:
            with pytest.raises(APIConnectionError):
                await lane.track_raw(b"{}", idempotency_key="e")
        finally:
            await lane.close()

    asyncio.run(refused())
    with pytest.raises(ValueError):
        TrackLane("k", "ftp://example")
