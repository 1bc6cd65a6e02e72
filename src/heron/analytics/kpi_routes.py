"""`GET /kpi/{dau,mau,new_users}/data_series`: daily KPI series read from `kpi_daily`.

Parameters (every error is a 400 naming its parameter; an empty value counts as absent and a
repeated parameter takes its last value):

- `length` (required): decimal digits, 1..100: the number of daily points.
- `ending_at` (optional, default now): the last point is the workspace-local day holding it.
  `YYYY-MM-DD` is that day; a date-time with `Z` or an offset (`±HH:MM`, `±HHMM`, `±HH`, and
  Braze's own example form `±H:MM`) is that instant; a date-time without one is wall-clock
  time in the workspace's zone, so its date is the day. Braze's `HH:mm:ss:SSS` milliseconds are
  accepted; a `+` sent unencoded arrives as a space and is read as `+`. Days are clamped to
  years 1..9999.
- `app_id` (optional): an app identifier of the key's workspace; omitted = all apps.

Same rules as `heron.analytics.params` (the `/events/data_series` family), kept here until the
two are merged.
"""

from __future__ import annotations

import re
import time
from calendar import monthrange
from collections.abc import Mapping
from datetime import date
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from heron.analytics.kpi import (
    LocalDays,
    Metric,
    daily_series,
    fold_job,
    iso_day,
    pending_exist,
)
from heron.http.auth import authenticate
from heron.http.errors import JSONResponse, bad_request
from heron.http.writes import run_on_writer
from heron.openapi.registry import braze_errors, json_response, register
from heron.store.schema import ALL_APPS

__all__ = ["MAX_LENGTH", "ending_day", "parse_length", "routes"]

MAX_LENGTH = 100
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
MIN_DAY = date(1, 1, 1).toordinal() - _EPOCH_ORDINAL
MAX_DAY = date(9999, 12, 31).toordinal() - _EPOCH_ORDINAL
_QUOTED_MAX = 64

_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2})(?::(\d{2})(?::(\d{2})(?:[.,](\d+)|:(\d{3}))?)?)?"
    r"(?:([Zz])|([+\- ])(\d{1,2})(?::?(\d{2}))?)?)?",
    re.ASCII,
)
_ENDING_AT_FORMAT = (
    "'ending_at' must be an ISO 8601 date-time (e.g. 2026-11-22T05:00:00Z or"
    " 2026-11-22T00:00:00-05:00) or date (2026-11-22)"
)


def _value(params: Mapping[str, str], name: str) -> str | None:
    """A parameter's value, or None when it is absent or empty."""
    value = params.get(name)
    return value if value else None


def parse_length(params: Mapping[str, str]) -> int:
    """`length`: required, an integer from 1 to 100."""
    raw = _value(params, "length")
    if raw is None:
        raise bad_request("'length' is required")
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LENGTH:
        raise bad_request(f"'length' must be an integer between 1 and {MAX_LENGTH}")
    return int(raw)


def ending_day(value: str | None, time_zone: str, now_ms: int) -> int:
    """The workspace-local day (days since 1970-01-01) that holds `ending_at`."""
    if value is None:
        return LocalDays(time_zone).day_of(now_ms)
    match = _ISO.fullmatch(value)
    if match is None:
        raise bad_request(_ENDING_AT_FORMAT)
    year, month, day, hour, minute, second, fraction, millis, z, sign, off_h, off_m = match.groups()
    y, m, d = int(year), int(month), int(day)
    if not (y >= 1 and 1 <= m <= 12 and 1 <= d <= monthrange(y, m)[1]):
        raise bad_request("'ending_at' is not a valid date")
    if int(hour or 0) > 23 or int(minute or 0) > 59 or int(second or 0) > 60:
        raise bad_request("'ending_at' is not a valid time of day")
    local = date(y, m, d).toordinal() - _EPOCH_ORDINAL
    if z is None and sign is None:
        return local  # a date, or wall-clock time in the workspace's zone: its date is the day
    offset_minutes = 0
    if sign is not None:
        if int(off_h) > 23 or int(off_m or 0) > 59:
            raise bad_request("'ending_at' has an invalid UTC offset")
        offset_minutes = int(off_h) * 60 + int(off_m or 0)
        if sign == "-":
            offset_minutes = -offset_minutes
    digits = fraction or millis or ""
    seconds_of_day = int(hour or 0) * 3600 + int(minute or 0) * 60 + min(int(second or 0), 59)
    instant_ms = (local * 86_400 + seconds_of_day - offset_minutes * 60) * 1000 + int(
        digits[:3].ljust(3, "0") if digits else 0
    )
    return LocalDays(time_zone).day_of(instant_ms)


async def _app_key(request: Request, workspace_id: int, params: Mapping[str, str]) -> int:
    """The internal key of the `app_id` parameter's app (ALL_APPS when omitted)."""
    app_id = _value(params, "app_id")
    if app_id is None:
        return ALL_APPS
    apps: dict[str, int] = await request.app.state.apps.for_workspace(workspace_id, {app_id})
    app = apps.get(app_id)
    if app is None:
        shown = app_id if len(app_id) <= _QUOTED_MAX else app_id[:_QUOTED_MAX] + "..."
        raise bad_request(f"'app_id' '{shown}' is not an app of this workspace")
    return app


async def _series(request: Request, metric: Metric) -> Response:
    """Authenticate, parse the parameters and answer one KPI's daily series."""
    principal = await authenticate(request, f"kpi.{metric}.data_series")
    params = request.query_params
    length = parse_length(params)
    last = ending_day(
        _value(params, "ending_at"), principal.workspace_time_zone, int(time.time() * 1000)
    )
    last = min(max(last, MIN_DAY + length - 1), MAX_DAY)
    app = await _app_key(request, principal.workspace_id, params)
    first = last - length + 1

    engine = request.app.state.engine
    deferring = engine.dialect.name == "sqlite"  # pairs wait in kpi_pending (heron.analytics.kpi)

    def read(check: bool) -> list[int] | None:
        with engine.connect() as conn:
            if check and pending_exist(conn):
                return None
            return daily_series(conn, principal.workspace_id, app, first, last, metric)

    values = await run_in_threadpool(read, deferring)
    if values is None:  # fold what was acknowledged before this read, then read
        await run_on_writer(request, fold_job, "KPI fold")
        values = await run_in_threadpool(read, False)
    assert values is not None
    data = [{"time": iso_day(first + i), metric: v} for i, v in enumerate(values)]
    return JSONResponse({"message": "success", "data": data})


async def dau_series(request: Request) -> Response:
    """Braze's `/kpi/dau/data_series`: unique active users per day."""
    return await _series(request, "dau")


async def mau_series(request: Request) -> Response:
    """Braze's `/kpi/mau/data_series`: unique active users over the 30 days ending each day."""
    return await _series(request, "mau")


async def new_users_series(request: Request) -> Response:
    """Braze's `/kpi/new_users/data_series`: new users per day."""
    return await _series(request, "new_users")


routes = [
    Route("/kpi/dau/data_series", dau_series, methods=["GET"]),
    Route("/kpi/mau/data_series", mau_series, methods=["GET"]),
    Route("/kpi/new_users/data_series", new_users_series, methods=["GET"]),
]


# -- OpenAPI ----------------------------------------------------------------------------------

_ACTIVE = (
    " A user is active on a day when at least one of their events or purchases has a `time`"
    " on that day (with `app_id`: an event or purchase carrying that app)."
)
_DAYS = (
    " Days are calendar days in the workspace's time zone (23 or 25 hours across DST changes);"
    " the series has exactly `length` points, oldest first, zero-filled, the last one being the"
    " day that holds `ending_at`. Counts are exact."
)
_DESCRIPTIONS: dict[str, tuple[str, str, str]] = {
    "dau": (
        "Daily active users",
        "Braze's `/kpi/dau/data_series`: the number of unique active users on each day." + _ACTIVE,
        "Unique users active that day.",
    ),
    "mau": (
        "Monthly active users (rolling 30 days)",
        "Braze's `/kpi/mau/data_series`: for each day, the number of unique users active on at"
        " least one of the 30 days ending with it (that day and the 29 before)." + _ACTIVE,
        "Unique users active in the 30 days ending that day.",
    ),
    "new_users": (
        "Daily new users",
        "Braze's `/kpi/new_users/data_series`. Without `app_id`: the user profiles created on"
        " each day (by `/users/track`, on the server's clock). With `app_id`: the users whose"
        " first event or purchase carrying that app has its `time` on that day (a user is new"
        " to each app once, like Braze's first session in an app).",
        "New users that day.",
    ),
}

_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "length",
        "in": "query",
        "required": True,
        "description": "Number of daily points, 1 to 100.",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LENGTH},
    },
    {
        "name": "ending_at",
        "in": "query",
        "required": False,
        "description": "The series ends with the workspace-local day holding this moment"
        " (default: now). An ISO 8601 date-time with `Z` or an offset is that instant; without"
        " one it is wall-clock time in the workspace's zone; a date `YYYY-MM-DD` is that day.",
        "schema": {"type": "string", "format": "date-time"},
    },
    {
        "name": "app_id",
        "in": "query",
        "required": False,
        "description": "An app identifier of the API key's workspace (400 otherwise); omitted:"
        " all apps.",
        "schema": {"type": "string"},
    },
]


_ERRORS_400 = braze_errors(400)
_ERRORS_400["400"]["description"] = (
    "A parameter is missing or invalid, or `app_id` is not an app of the key's workspace;"
    " `message` names the parameter (for example `'length' must be an integer between 1 and"
    " 100`)."
)


def _register(metric: Metric) -> None:
    """Document one KPI endpoint."""
    summary, description, value = _DESCRIPTIONS[metric]
    point = {
        "type": "object",
        "required": ["time", metric],
        "properties": {
            "time": {
                "type": "string",
                "pattern": r"^\d{4}-\d{2}-\d{2}$",
                "description": "The day, an ISO 8601 date (YYYY-MM-DD).",
            },
            metric: {"type": "integer", "minimum": 0, "description": value},
        },
        "additionalProperties": False,
    }
    body = {
        "type": "object",
        "required": ["message", "data"],
        "properties": {
            "message": {"type": "string", "enum": ["success"]},
            "data": {"type": "array", "minItems": 1, "maxItems": MAX_LENGTH, "items": point},
        },
        "additionalProperties": False,
    }
    register(
        f"/kpi/{metric}/data_series",
        "get",
        {
            "operationId": f"kpi{''.join(w.title() for w in metric.split('_'))}DataSeries",
            "summary": summary,
            "description": description + _DAYS,
            "tags": ["Export: KPIs"],
            "parameters": _PARAMETERS,
            "responses": {
                "200": json_response("The daily series.", body),
                **_ERRORS_400,
            },
        },
        permission=f"kpi.{metric}.data_series",
    )


_register("dau")
_register("mau")
_register("new_users")
