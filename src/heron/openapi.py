"""heron's OpenAPI document (`GET /openapi.json`), describing Braze's request and response shapes."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from heron import __version__
from heron.http.errors import JSONResponse


def document() -> dict[str, Any]:
    """Build the OpenAPI 3.0 document."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "heron (Braze-compatible REST API)", "version": __version__},
        "paths": {},
    }


async def openapi_json(_request: Request) -> Response:
    """Serve the document."""
    return JSONResponse(document())


openapi_route = Route("/openapi.json", openapi_json, methods=["GET"])
