"""Reading request bodies: Braze's 4 MB limit and precise messages for malformed JSON."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request

from heron.http.errors import TOO_LARGE_MESSAGE, BrazeError, bad_request

MAX_BODY_BYTES = 4 * 1024 * 1024
_decoder = msgspec.json.Decoder()


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """Read the whole body, refusing (413) anything over `limit` before buffering it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BrazeError(413, TOO_LARGE_MESSAGE)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BrazeError(413, TOO_LARGE_MESSAGE)
        chunks.append(chunk)
    return b"".join(chunks)


def decode_json(body: bytes) -> Any:
    """Decode JSON (no NaN/Infinity, as the JSON standard says), or raise a 400 saying why."""
    if not body.strip():
        raise bad_request("Request body is empty: expected a JSON object")
    try:
        return _decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise bad_request(f"Malformed JSON: {exc}") from None
    except UnicodeDecodeError as exc:
        raise bad_request(f"Malformed JSON: body is not valid UTF-8 ({exc.reason})") from None
    except RecursionError:
        raise bad_request("Malformed JSON: nested too deeply") from None


async def read_json_object(request: Request) -> dict[str, Any]:
    """Read and decode a body that must be a JSON object."""
    return json_object(await read_body(request))


def json_object(body: bytes) -> dict[str, Any]:
    """Decode a body that must be a JSON object, or raise a 400 saying what it is instead."""
    value = decode_json(body)
    if not isinstance(value, dict):
        kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
        kind = kinds.get(type(value), "a number")
        raise bad_request(f"Request body must be a JSON object, not {kind}")
    return value
