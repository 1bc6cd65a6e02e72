"""The import's lean transport (`heron.tools.transport`) under AsyncBraze, against the fake."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from fakeserver import Drop, FakeBraze, Reply, Sleep

from heron.tools.transport import StreamTransport
from heron_client import APIConnectionError, APITimeoutError, AsyncBraze, RetryPolicy, ServerError

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
