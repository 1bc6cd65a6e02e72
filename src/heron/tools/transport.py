"""Lean HTTP for bulk imports: one keep-alive HTTP/1.1 connection, asyncio streams, httptools.

httpx's default transport (httpcore on anyio, h11 parsing) costs about 2.5 ms of CPU per
request on the 2-core development machine; at the ~400 requests/s an import needs, the client
would take more than a core from the server it feeds. `Connection` writes a request in one
`write` and parses the answer with `httptools` (the C parser uvicorn uses, installed with
`uvicorn[standard]`), for a fraction of that. `StreamTransport` plugs it into
`AsyncBraze(transport=...)`, so retries, errors and idempotency keys are the client's own;
`TrackLane` skips httpx's request machinery too (about half of the import's remaining client
time per request) and retries by the client's `RetryPolicy`, mapping answers to the
client's exceptions exactly as `AsyncBraze` does.

Each carries one request at a time (the importer gives each concurrent request its own).
Connection failures surface as httpx's exceptions (`ConnectError`, `ReadTimeout`,
`RemoteProtocolError`, ...), which the client maps and retries like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import httptools
import httpx
import orjson

from heron_client import HeronClientError, MalformedResponseError, RetryPolicy

# The same mappings `AsyncBraze.send` applies (heron-client's internals, one repository).
from heron_client._base import USER_AGENT, transport_error
from heron_client._errors import error_for_response

__all__ = ["Connection", "StreamTransport", "TrackLane"]

_READ_CHUNK = 65_536

Origin = tuple[str, str, int]


class _Answer:
    """httptools callbacks collecting one response."""

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.complete = False
        self.status = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        """A header line."""
        self.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        """A piece of the body (chunked encoding already removed)."""
        self.body.append(body)

    def on_message_complete(self) -> None:
        """The whole response has arrived."""
        self.complete = True


class Connection:
    """One persistent connection to one origin; reconnects when it was closed or failed."""

    def __init__(self, origin: Origin) -> None:
        self.origin = origin
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def exchange(
        self, data: bytes, connect_timeout: float | None, read_timeout: float | None
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Write one whole request; the answer's status, headers and body.

        Raises httpx's `ConnectError`/`ConnectTimeout`/`ReadTimeout`/`RemoteProtocolError`;
        the connection is dropped after any failure.
        """
        try:
            if self._writer is None or self._writer.is_closing():
                await self.close()
                await self._connect(connect_timeout)
            assert self._writer is not None
            self._writer.write(data)
            try:
                async with asyncio.timeout(read_timeout):
                    answer = await self._read()
            except TimeoutError:
                raise httpx.ReadTimeout("no answer in time") from None
            except (OSError, EOFError, httptools.HttpParserError) as exc:
                raise httpx.RemoteProtocolError(f"connection failed: {exc!r}") from exc
        except BaseException:
            await self.close()
            raise
        if any(n.lower() == b"connection" and v.lower() == b"close" for n, v in answer.headers):
            await self.close()
        return answer.status, answer.headers, b"".join(answer.body)

    async def _connect(self, timeout: float | None) -> None:
        """Open the connection (TLS for https)."""
        scheme, host, port = self.origin
        context = ssl.create_default_context() if scheme == "https" else None
        try:
            async with asyncio.timeout(timeout):
                self._reader, self._writer = await asyncio.open_connection(host, port, ssl=context)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from None
        except OSError as exc:
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {exc}") from exc

    async def _read(self) -> _Answer:
        """Read until the parser has a whole response."""
        assert self._reader is not None
        answer = _Answer()
        parser = httptools.HttpResponseParser(answer)
        while not answer.complete:
            data = await self._reader.read(_READ_CHUNK)
            if not data:
                raise EOFError("the server closed the connection without a complete answer")
            parser.feed_data(data)
        answer.status = parser.get_status_code()
        return answer

    async def close(self) -> None:
        """Drop the connection."""
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


class StreamTransport(httpx.AsyncBaseTransport):
    """An httpx transport over one `Connection` (re-opened for another origin)."""

    def __init__(self) -> None:
        self._connection: Connection | None = None
        self._lock = asyncio.Lock()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request and read its whole answer."""
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        url = request.url
        origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        async with self._lock:
            if self._connection is None or self._connection.origin != origin:
                if self._connection is not None:
                    await self._connection.close()
                self._connection = Connection(origin)
            body = await request.aread()
            lines = [f"{request.method} {url.raw_path.decode('ascii')} HTTP/1.1"]
            for name, value in request.headers.raw:
                if name.lower() not in (b"content-length", b"transfer-encoding"):
                    lines.append(f"{name.decode('latin-1')}: {value.decode('latin-1')}")
            lines.append(f"Content-Length: {len(body)}")
            data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
            try:
                status, headers, content = await self._connection.exchange(
                    data, timeouts.get("connect"), timeouts.get("read")
                )
            except httpx.TransportError as exc:
                exc.request = request
                raise
        return httpx.Response(status, headers=headers, content=content, request=request)

    async def aclose(self) -> None:
        """Close the connection."""
        if self._connection is not None:
            await self._connection.close()


class TrackLane:
    """`POST /users/track` of ready JSON bodies over one `Connection`, with the client's retries.

    Answers like `AsyncBraze.track_raw`: the 2xx answer's JSON object, or the client's
    exception (`RateLimitedError`, `ServerError`, `APIConnectionError`, ...) once the
    `RetryPolicy` gives up. The request head is built once; a request costs one `write`.
    """

    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        retry: RetryPolicy | None = None,
        timeout: float | None = 60.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self._connection = Connection((parts.scheme, parts.hostname, port))
        self._url = base_url.rstrip("/") + "/users/track"
        host = parts.netloc.rsplit("@", 1)[-1]
        self._head = (
            f"POST {parts.path.rstrip('/')}/users/track HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {api_key}\r\nUser-Agent: {USER_AGENT}\r\n"
            "Accept: application/json\r\nContent-Type: application/json\r\n"
        ).encode("latin-1")
        self._retry = retry or RetryPolicy()
        self._timeout = timeout
        self._sleep = sleep

    def request_bytes(self, content: bytes, idempotency_key: str) -> bytes:
        """The whole request: head, `Idempotency-Key`, `Content-Length`, body."""
        return b"".join(
            (
                self._head,
                b"Idempotency-Key: ",
                idempotency_key.encode("latin-1"),
                b"\r\nContent-Length: ",
                str(len(content)).encode(),
                b"\r\n\r\n",
                content,
            )
        )

    async def track_raw(self, content: bytes, *, idempotency_key: str) -> dict[str, Any]:
        """Send one body (retrying by the policy under the same key); the answer's object."""
        data = self.request_bytes(content, idempotency_key)
        attempt = 0
        while True:
            error: HeronClientError
            try:
                status, headers, body = await self._connection.exchange(
                    data, self._timeout, self._timeout
                )
            except httpx.TransportError as exc:
                error = transport_error(exc)
            else:
                if 200 <= status < 300:
                    return self._decode(status, headers, body)
                error = error_for_response(self._response(status, headers, body))
            wait = self._retry.delay(error, attempt)
            if wait is None:
                raise error
            await self._sleep(wait)
            attempt += 1

    def _decode(
        self, status: int, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> dict[str, Any]:
        """A 2xx answer's JSON object, or MalformedResponseError (as the client decides)."""
        try:
            found = orjson.loads(body)
        except orjson.JSONDecodeError:
            found = None
        if not isinstance(found, dict):
            raise MalformedResponseError(
                "the answer is not a JSON object", self._response(status, headers, body)
            )
        return found

    def _response(
        self, status: int, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> httpx.Response:
        """An httpx response for the client's error types (only on the rare unhappy path)."""
        request = httpx.Request("POST", self._url)
        return httpx.Response(status, headers=headers, content=body, request=request)

    async def close(self) -> None:
        """Close the connection."""
        await self._connection.close()
