"""A lean httpx transport for bulk imports: one keep-alive HTTP/1.1 connection, asyncio streams.

httpx's default transport (httpcore on anyio, h11 parsing) costs about 2.5 ms of CPU per
request on the 2-core development machine; at the ~400 requests/s an import needs, the client
would take more than a core from the server it feeds. This transport writes the request in
one `write` and parses the answer with `httptools` (the C parser uvicorn uses, installed with
`uvicorn[standard]`), for a fraction of that. It plugs into `AsyncBraze(transport=...)`, so
retries, errors and idempotency keys are the client's own.

It carries one request at a time (the importer gives each concurrent request its own client
and transport). Failures surface as httpx's exceptions (`ConnectError`, `ReadTimeout`,
`RemoteProtocolError`, ...), which the client maps and retries like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

import httptools
import httpx

__all__ = ["StreamTransport"]

_READ_CHUNK = 65_536


class _Answer:
    """httptools callbacks collecting one response."""

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        """A header line."""
        self.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        """A piece of the body (chunked encoding already removed)."""
        self.body.append(body)

    def on_message_complete(self) -> None:
        """The whole response has arrived."""
        self.complete = True


class StreamTransport(httpx.AsyncBaseTransport):
    """One persistent connection to the request's origin; reconnects when it is closed."""

    def __init__(self) -> None:
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._origin: tuple[str, str, int] | None = None
        self._lock = asyncio.Lock()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request and read its whole answer."""
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        async with self._lock:
            try:
                return await self._exchange(request, timeouts)
            except BaseException:
                await self._close()
                raise

    async def _exchange(self, request: httpx.Request, timeouts: dict[str, Any]) -> httpx.Response:
        """Connect if needed, write, read."""
        url = request.url
        origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        if self._writer is None or self._origin != origin or self._writer.is_closing():
            await self._close()
            await self._connect(origin, timeouts.get("connect"))
        assert self._writer is not None and self._reader is not None
        body = await request.aread()
        lines = [f"{request.method} {url.raw_path.decode('ascii')} HTTP/1.1"]
        for name, value in request.headers.raw:
            if name.lower() not in (b"content-length", b"transfer-encoding"):
                lines.append(f"{name.decode('latin-1')}: {value.decode('latin-1')}")
        lines.append(f"Content-Length: {len(body)}")
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        try:
            async with asyncio.timeout(timeouts.get("read")):
                answer, parser = await self._read()
        except TimeoutError:
            raise httpx.ReadTimeout("no answer in time", request=request) from None
        except (OSError, EOFError, httptools.HttpParserError) as exc:
            raise httpx.RemoteProtocolError(f"connection failed: {exc!r}", request=request) from exc
        if any(n.lower() == b"connection" and v.lower() == b"close" for n, v in answer.headers):
            await self._close()
        return httpx.Response(
            parser.get_status_code(),
            headers=answer.headers,
            content=b"".join(answer.body),
            request=request,
        )

    async def _connect(self, origin: tuple[str, str, int], timeout: float | None) -> None:
        """Open the connection (TLS for https)."""
        scheme, host, port = origin
        context = ssl.create_default_context() if scheme == "https" else None
        try:
            async with asyncio.timeout(timeout):
                self._reader, self._writer = await asyncio.open_connection(host, port, ssl=context)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from None
        except OSError as exc:
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {exc}") from exc
        self._origin = origin

    async def _read(self) -> tuple[_Answer, httptools.HttpResponseParser]:
        """Read until the parser has a whole response."""
        assert self._reader is not None
        answer = _Answer()
        parser = httptools.HttpResponseParser(answer)
        while not answer.complete:
            data = await self._reader.read(_READ_CHUNK)
            if not data:
                raise EOFError("the server closed the connection without a complete answer")
            parser.feed_data(data)
        return answer, parser

    async def _close(self) -> None:
        """Drop the connection."""
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def aclose(self) -> None:
        """Close the connection."""
        await self._close()
