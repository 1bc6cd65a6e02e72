"""The client against a scripted fake server: retries, waits, errors, pagination, batching."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fakeserver import Drop, FakeBraze, Reply, Sleep, StoreThenDrop

from heron_client import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AsyncBraze,
    AuthenticationError,
    BadRequestError,
    Braze,
    MalformedResponseError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    RetryPolicy,
    ServerError,
)

FAST = RetryPolicy(max_retries=3, backoff_base=0.01, backoff_max=0.05, rate_limit_jitter=0.01)
NAMES = {"message": "success", "events": ["a", "b"]}


@pytest.fixture
def fake() -> Iterator[FakeBraze]:
    """A running fake server."""
    with FakeBraze() as server:
        yield server


def braze(fake: FakeBraze, retry: RetryPolicy = FAST, timeout: float = 5.0) -> Braze:
    """A sync client on the fake."""
    return Braze("key", fake.base_url, retry=retry, timeout=timeout)


def test_429_waits_until_rate_limit_reset(fake: FakeBraze) -> None:
    """A 429 is retried once the window named by X-RateLimit-Reset has ended."""
    reset = int(time.time()) + 2
    fake.script(
        "/events/list",
        Reply(429, {"message": "Rate Limited"}, {"X-RateLimit-Reset": str(reset)}),
        Reply(200, NAMES),
    )
    with braze(fake) as client:
        assert client.events_list() == ["a", "b"]
    first, second = fake.requests_to("/events/list")
    assert second.at >= reset
    assert first.headers["authorization"] == "Bearer key"


def test_429_beyond_the_longest_wait_raises_at_once(fake: FakeBraze) -> None:
    """A reset further away than `max_rate_limit_wait` raises RateLimitedError with it."""
    reset = int(time.time()) + 600
    fake.script(
        "/events/list", Reply(429, {"message": "Rate Limited"}, {"X-RateLimit-Reset": str(reset)})
    )
    started = time.monotonic()
    with (
        braze(fake, RetryPolicy(max_rate_limit_wait=60)) as client,
        pytest.raises(RateLimitedError) as caught,
    ):
        client.events_list()
    assert time.monotonic() - started < 2
    assert caught.value.reset_at == reset and caught.value.status == 429
    assert caught.value.message == "Rate Limited"


def test_5xx_backs_off_then_succeeds(fake: FakeBraze) -> None:
    """Server errors are retried with backoff until an answer arrives."""
    fake.script(
        "/events/list", Reply(503, {"message": "x"}), Reply(500, b"oops"), Reply(200, NAMES)
    )
    with braze(fake) as client:
        assert client.events_list() == ["a", "b"]
    assert len(fake.requests_to("/events/list")) == 3


def test_5xx_retries_are_bounded(fake: FakeBraze) -> None:
    """After `max_retries` retries the ServerError is raised, with status and message."""
    fake.script("/events/list", *[Reply(502, {"message": "Bad Gateway"})] * 10)
    policy = RetryPolicy(max_retries=2, backoff_base=0.01, backoff_max=0.02)
    with braze(fake, policy) as client, pytest.raises(ServerError) as caught:
        client.events_list()
    assert len(fake.requests_to("/events/list")) == 3
    assert caught.value.status == 502 and caught.value.message == "Bad Gateway"


def test_backoff_is_exponential_with_jitter_and_capped() -> None:
    """Delays stay under min(backoff_max, base * 2**attempt) and vary."""
    policy = RetryPolicy(max_retries=10, backoff_base=0.5, backoff_max=4.0)
    error = ServerError(500, "x", [], None)
    for attempt in range(10):
        delays = {policy.delay(error, attempt) for _ in range(50)}
        assert all(d is not None and 0 <= d <= min(4.0, 0.5 * 2**attempt) for d in delays)
        assert len(delays) > 1
    assert policy.delay(error, 10) is None
    assert policy.delay(BadRequestError(400, "x", [], None), 0) is None


def test_timeout_is_retried_then_raised(fake: FakeBraze) -> None:
    """A request that gets no answer in time is retried; without retries it raises."""
    fake.script("/events/list", Sleep(1.0), Reply(200, NAMES))
    with braze(fake, timeout=0.3) as client:
        assert client.events_list() == ["a", "b"]
    fake.script("/events/list", Sleep(1.0))
    with (
        braze(fake, RetryPolicy(max_retries=0), timeout=0.3) as client,
        pytest.raises(APITimeoutError),
    ):
        client.events_list()


def test_dropped_connection_is_retried(fake: FakeBraze) -> None:
    """A connection closed without an answer is a connection error, retried."""
    fake.script("/events/list", Drop(), Reply(200, NAMES))
    with braze(fake) as client:
        assert client.events_list() == ["a", "b"]


def test_refused_connection_raises_after_retries() -> None:
    """Nothing listening: APIConnectionError once the retries are spent."""
    with FakeBraze() as fake:
        url = fake.base_url
    with Braze("key", url, retry=FAST) as client, pytest.raises(APIConnectionError):
        client.events_list()


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[1, 2]", b"", b'{"message": "success"}'],
    ids=["broken", "array", "empty", "no-list"],
)
def test_malformed_answers_raise(fake: FakeBraze, body: bytes) -> None:
    """A 2xx answer that is not the expected JSON object is a MalformedResponseError."""
    fake.script("/events/list", Reply(200, body))
    with braze(fake) as client, pytest.raises(MalformedResponseError):
        client.events_list()


def test_html_error_page_is_a_server_error(fake: FakeBraze) -> None:
    """A proxy's HTML 502 still maps to ServerError (message from the reason phrase)."""
    fake.script("/events/list", *[Reply(502, b"<html>bad gateway</html>")] * 5)
    with braze(fake) as client, pytest.raises(ServerError) as caught:
        client.events_list()
    assert caught.value.message == "Bad Gateway" and caught.value.errors == []


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (413, PayloadTooLargeError),
    ],
)
def test_fatal_errors_map_to_the_hierarchy(
    fake: FakeBraze, status: int, error: type[APIError]
) -> None:
    """Each Braze fatal status has its exception, carrying status, message and errors."""
    fake.script("/users/track", Reply(status, {"message": "Nope", "errors": ["detail"]}))
    with braze(fake) as client, pytest.raises(error) as caught:
        client.track(events=[{"external_id": "u", "name": "e", "time": "2026-01-01"}])
    assert (caught.value.status, caught.value.message, caught.value.errors) == (
        status,
        "Nope",
        ["detail"],
    )
    assert len(fake.requests_to("/users/track")) == 1  # 4xx are not retried


def test_link_header_pagination(fake: FakeBraze) -> None:
    """iter_events follows rel="next" until a page has none."""
    fake.script(
        "/events",
        Reply(200, {"message": "success", "events": [{"name": "a"}]}, {"Link": _link(None, "n1")}),
        Reply(200, {"message": "success", "events": [{"name": "b"}]}, {"Link": _link("p", "n2")}),
        Reply(200, {"message": "success", "events": [{"name": "c"}]}, {"Link": _link("p2", None)}),
    )
    with braze(fake) as client:
        assert [e["name"] for e in client.iter_events()] == ["a", "b", "c"]
    assert [s.query for s in fake.requests_to("/events")] == ["", "cursor=n1", "cursor=n2"]


def _link(prev: str | None, nxt: str | None) -> str:
    """A Braze `Link` header."""
    parts = [f'</events?cursor={prev}>; rel="prev"'] if prev else []
    parts += [f'</events?cursor={nxt}>; rel="next"'] if nxt else []
    return ",".join(parts)


def test_page_numbered_lists(fake: FakeBraze) -> None:
    """Campaigns and segments are read page after page until a short page."""
    full = [{"id": str(i), "name": f"c{i}"} for i in range(100)]
    fake.script(
        "/campaigns/list",
        Reply(200, {"message": "success", "campaigns": full}),
        Reply(200, {"message": "success", "campaigns": full[:3]}),
    )
    fake.script(
        "/segments/list",
        Reply(200, {"message": "success", "segments": full}),
        Reply(200, {"message": "success", "segments": []}),
    )
    with braze(fake) as client:
        assert len(list(client.iter_campaigns(include_archived=True))) == 103
        assert len(list(client.iter_segments(sort_direction="desc"))) == 100
    assert [s.query for s in fake.requests_to("/campaigns/list")] == [
        "page=0&include_archived=true",
        "page=1&include_archived=true",
    ]
    assert [s.query for s in fake.requests_to("/segments/list")] == [
        "page=0&sort_direction=desc",
        "page=1&sort_direction=desc",
    ]


def test_track_all_batches_and_maps_errors(fake: FakeBraze) -> None:
    """200 events and 80 purchases go in batches of 75; refused objects keep the caller's index."""
    events = [{"external_id": f"u{i}", "name": "e", "reject": i in (3, 150)} for i in range(200)]
    purchases = [{"external_id": f"u{i}", "product_id": "p", "reject": i == 79} for i in range(80)]
    with braze(fake) as client:
        report = client.track_all(events=events, purchases=purchases)
    assert report.requests == 3 and report.events_processed == 198
    assert report.purchases_processed == 79
    assert [(e.input_array, e.index) for e in report.errors] == [
        ("events", 3),
        ("events", 150),
        ("purchases", 79),
    ]
    bodies = [json.loads(s.body) for s in fake.requests_to("/users/track")]
    assert [len(b.get("events", [])) for b in bodies] == [75, 75, 50]
    assert [len(b.get("purchases", [])) for b in bodies] == [75, 5, 0]
    keys = {s.headers["idempotency-key"] for s in fake.requests_to("/users/track")}
    assert len(keys) == 3


def test_track_all_reports_a_failed_batch(fake: FakeBraze) -> None:
    """A batch that fails for good marks each of its objects; the other batches go on."""
    fake.script("/users/track", None, Reply(400, {"message": "Max Input Length Exceeded"}))
    events = [{"external_id": f"u{i}", "name": "e"} for i in range(160)]
    with braze(fake) as client:
        report = client.track_all(events=events)
    assert not report.ok and report.events_processed == 85
    assert [e.index for e in report.errors] == list(range(75, 150))
    assert all(e.fatal and "Max Input Length" in e.type for e in report.errors)


def test_a_retried_track_keeps_its_idempotency_key(fake: FakeBraze) -> None:
    """A track stored by the server whose answer was lost is retried under the same key."""
    fake.script("/users/track", StoreThenDrop())
    with braze(fake) as client:
        answer = client.track(events=[{"external_id": "u", "name": "e", "time": "2026-01-01"}])
    assert answer["events_processed"] == 1
    first, second = fake.requests_to("/users/track")
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert len(fake.stored) == 1 and fake.replays == 1


def test_async_client_retries_and_paginates(fake: FakeBraze) -> None:
    """AsyncBraze: 429 wait, 5xx backoff, Link pagination, concurrent batched track."""
    reset = int(time.time()) + 1
    fake.script(
        "/events/list",
        Reply(429, {"message": "Rate Limited"}, {"X-RateLimit-Reset": str(reset)}),
        Reply(500, {"message": "x"}),
        Reply(200, NAMES),
    )
    fake.script(
        "/events",
        Reply(200, {"message": "success", "events": [{"name": "a"}]}, {"Link": _link(None, "n")}),
        Reply(200, {"message": "success", "events": [{"name": "b"}]}),
    )
    events = [{"external_id": f"u{i}", "name": "e", "reject": i == 299} for i in range(300)]

    async def scenario() -> tuple[list[str], list[str], Any]:
        async with AsyncBraze("key", fake.base_url, retry=FAST) as client:
            names = await client.events_list()
            listed = [e["name"] async for e in client.iter_events()]
            report = await client.track_all(events=events, concurrency=3)
            return names, listed, report

    names, listed, report = asyncio.run(scenario())
    assert names == ["a", "b"] and listed == ["a", "b"]
    assert fake.requests_to("/events/list")[1].at >= reset
    assert report.events_processed == 299 and report.requests == 4
    assert [(e.input_array, e.index) for e in report.errors] == [("events", 299)]


def test_async_timeout_and_connection_errors(fake: FakeBraze) -> None:
    """AsyncBraze raises APITimeoutError and APIConnectionError like the sync client."""
    fake.script("/events/list", Sleep(1.0), Drop())

    async def scenario() -> None:
        async with AsyncBraze(
            "key", fake.base_url, retry=RetryPolicy(max_retries=0), timeout=0.3
        ) as client:
            with pytest.raises(APITimeoutError):
                await client.events_list()
            with pytest.raises(APIConnectionError):
                await client.events_list()

    asyncio.run(scenario())


def test_importable_without_the_servers_dependencies() -> None:
    """heron_client imports and works with the server's packages made unimportable."""
    blocked = ["heron", "starlette", "sqlalchemy", "msgspec", "click", "orjson", "uvicorn"]
    code = f"""
import importlib.abc, sys
BLOCKED = {blocked!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError("blocked: " + name)
        return None
sys.meta_path.insert(0, Block())
import heron_client
client = heron_client.Braze("k", "http://127.0.0.1:9")
client.close()
loaded = sorted({{m.split(".")[0] for m in sys.modules}} & set(BLOCKED))
assert not loaded, loaded
print("ok", len(heron_client.__all__))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok ")


UA = {"alias_name": "n", "alias_label": "l"}
SHAPES: list[tuple[str, Any, str, str, Any]] = [
    ("alias_new", lambda b: b.alias_new([{**UA, "external_id": "u"}]), "POST", "/users/alias/new",
     {"user_aliases": [{**UA, "external_id": "u"}]}),
    ("alias_update", lambda b: b.alias_update(
        [{"alias_label": "l", "old_alias_name": "a", "new_alias_name": "b"}]),
     "POST", "/users/alias/update",
     {"alias_updates": [{"alias_label": "l", "old_alias_name": "a", "new_alias_name": "b"}]}),
    ("identify", lambda b: b.identify([{"external_id": "u", "user_alias": UA}],
                                      merge_behavior="merge"),
     "POST", "/users/identify",
     {"aliases_to_identify": [{"external_id": "u", "user_alias": UA}], "merge_behavior": "merge"}),
    ("merge", lambda b: b.merge([{"identifier_to_merge": {"external_id": "a"},
                                  "identifier_to_keep": {"external_id": "b"}}]),
     "POST", "/users/merge", {"merge_updates": [{"identifier_to_merge": {"external_id": "a"},
                                                 "identifier_to_keep": {"external_id": "b"}}]}),
    ("delete", lambda b: b.delete(user_aliases=[UA]), "POST", "/users/delete",
     {"user_aliases": [UA]}),
    ("export_ids", lambda b: b.export_ids(external_ids=("u",), fields_to_export=["email"]),
     "POST", "/users/export/ids", {"external_ids": ["u"], "fields_to_export": ["email"]}),
    ("campaign_details", lambda b: b.campaign_details("c1", post_launch_draft_version=True),
     "GET", "/campaigns/details", "campaign_id=c1&post_launch_draft_version=true"),
    ("campaign_data_series", lambda b: b.campaign_data_series("c1", 7, ending_at="2026-01-01"),
     "GET", "/campaigns/data_series", "campaign_id=c1&length=7&ending_at=2026-01-01"),
    ("campaigns_list", lambda b: b.campaigns_list(2, last_edit_time_gt="2026-01-01T00:00:00"),
     "GET", "/campaigns/list", "page=2&last_edit.time%5Bgt%5D=2026-01-01T00%3A00%3A00"),
    ("segment_details", lambda b: b.segment_details("s1"), "GET", "/segments/details",
     "segment_id=s1"),
    ("segment_data_series", lambda b: b.segment_data_series("s1", 3), "GET",
     "/segments/data_series", "segment_id=s1&length=3"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "call", "method", "path", "sent"), SHAPES, ids=[s[0] for s in SHAPES]
)
def test_request_shapes_follow_the_spec(
    fake: FakeBraze, name: str, call: Any, method: str, path: str, sent: Any
) -> None:
    """The endpoints being built now: method, path, and Braze's body or query, from the spec."""
    answer = {"message": "success", "data": [], "campaigns": [], "deleted": 1}
    fake.script(path, Reply(200, answer))
    with braze(fake) as client:
        call(client)
    (seen,) = fake.requests_to(path)
    assert seen.method == method
    if method == "POST":
        assert json.loads(seen.body) == sent
    else:
        assert seen.query == sent


def test_429_without_reset_uses_retry_after_then_backoff(fake: FakeBraze) -> None:
    """Without X-RateLimit-Reset, Retry-After says how long; without either, backoff."""
    fake.script(
        "/events/list",
        Reply(429, {"message": "Rate Limited"}, {"Retry-After": "1"}),
        Reply(429, {"message": "Rate Limited"}),
        Reply(200, NAMES),
    )
    started = time.monotonic()
    with braze(fake) as client:
        assert client.events_list() == ["a", "b"]
    first, second, third = fake.requests_to("/events/list")
    assert second.at - first.at >= 0.9 and third.at - second.at < 0.5
    assert time.monotonic() - started < 5


def test_sync_and_async_clients_offer_the_same_methods() -> None:
    """Every endpoint method exists on both clients, with the same parameters."""
    import inspect

    def public(cls: type) -> dict[str, list[str]]:
        return {
            name: list(inspect.signature(getattr(cls, name)).parameters)
            for name in dir(cls)
            if not name.startswith("_")
        }

    sync, asynchronous = public(Braze), public(AsyncBraze)
    asynchronous["track_all"].remove("concurrency")
    assert sync == asynchronous
