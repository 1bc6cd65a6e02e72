"""The service's own endpoints in the document (`/healthz`, `/openapi.json`), and its route."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from heron.http.errors import JSONResponse
from heron.openapi.registry import document, json_response, register

register(
    "/healthz",
    "get",
    {
        "operationId": "healthz",
        "summary": "Liveness and readiness",
        "description": "Answers once the server is running and its writer has started.",
        "tags": ["Service"],
        "responses": {
            "200": json_response(
                "The server is up.",
                {
                    "type": "object",
                    "required": ["status"],
                    "properties": {"status": {"type": "string", "enum": ["ok"]}},
                    "additionalProperties": False,
                },
            )
        },
    },
    permission=None,
)

register(
    "/openapi.json",
    "get",
    {
        "operationId": "openapi",
        "summary": "This OpenAPI document",
        "tags": ["Service"],
        "responses": {
            "200": json_response(
                "The OpenAPI 3.0 document describing every endpoint heron serves.",
                {
                    "type": "object",
                    "required": ["openapi", "info", "paths"],
                    "properties": {
                        "openapi": {"type": "string", "pattern": "^3\\.0\\.[0-9]+$"},
                        "info": {"type": "object"},
                        "paths": {"type": "object"},
                        "components": {"type": "object"},
                    },
                    "additionalProperties": True,
                },
            )
        },
    },
    permission=None,
)


async def openapi_json(_request: Request) -> Response:
    """Serve the document."""
    return JSONResponse(document())


openapi_route = Route("/openapi.json", openapi_json, methods=["GET"])
