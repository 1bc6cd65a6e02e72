"""The ASGI application: routes, Braze-shaped error handling and the writer's lifetime."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from heron.admin.directory import AppDirectory
from heron.admin.workspace_api import routes as workspace_routes
from heron.analytics.kpi_routes import routes as kpi_routes
from heron.analytics.routes import routes as analytics_routes
from heron.campaigns import routes as campaign_routes
from heron.catalog import routes as catalog_routes
from heron.catalog import start_maintenance
from heron.config import Settings
from heron.http.auth import LAST_SEEN_FLUSH_SECONDS, KeyRing
from heron.http.errors import (
    BrazeError,
    JSONResponse,
    braze_error_handler,
    http_exception_handler,
    storage_busy_handler,
    unexpected_error_handler,
)
from heron.ingest.routes import routes as ingest_routes
from heron.ingest.trackstore import TrackStore
from heron.ingest.writer import GroupCommitWriter
from heron.openapi import openapi_route
from heron.ratelimit import RateLimiter, RateLimitHeaders
from heron.runtime import tune_gc
from heron.segments.api import routes as segment_routes
from heron.segments.api import start_tasks as start_segment_tasks
from heron.store import migrate
from heron.store.busy import StorageBusy
from heron.store.engine import make_engine
from heron.store.walsync import durable_wal_path
from heron.users.routes import routes as user_routes

log = logging.getLogger("heron")


async def healthz(_request: Request) -> Response:
    """Liveness and readiness: answers once the writer is running."""
    return JSONResponse({"status": "ok"})


def create_app(settings: Settings | None = None, *, run_migrations: bool = True) -> Starlette:
    """Build the application for one database; migrations run at start-up unless told not to."""
    settings = settings or Settings.from_env()
    engine = make_engine(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        """Open the database, start the writer and the `last_seen` flusher; stop them cleanly."""
        if run_migrations:
            await run_in_threadpool(migrate.upgrade, engine)
        writer = GroupCommitWriter(
            engine,
            TrackStore(engine.dialect.name, max_array_length=settings.max_array_length),
            max_group_requests=settings.max_group_requests,
            max_group_objects=settings.max_group_objects,
            wal_path=durable_wal_path(engine, settings.sqlite_synchronous),
        )
        writer.start()
        app.state.writer = writer
        tune_gc()

        async def flush_last_seen() -> None:
            """Periodically persist API keys' `last_seen`."""
            while True:
                await asyncio.sleep(LAST_SEEN_FLUSH_SECONDS / 3)
                if app.state.keyring.flush_due():
                    try:
                        await run_in_threadpool(app.state.keyring.flush_last_seen)
                    except Exception:
                        log.exception("could not record API keys' last_seen")

        flusher = asyncio.create_task(flush_last_seen())
        catalog_maintenance = start_maintenance(app)  # purges entries trashed 7 days ago
        segment_tasks = start_segment_tasks(app)  # segment evaluator and daily size snapshot
        await app.state.rate_limiter.start()
        try:
            yield
        finally:
            flusher.cancel()
            await catalog_maintenance.stop()
            if segment_tasks is not None:
                await segment_tasks.stop()
            await app.state.rate_limiter.stop()
            await run_in_threadpool(writer.stop)
            with contextlib.suppress(Exception):
                await run_in_threadpool(app.state.keyring.flush_last_seen)
            engine.dispose()

    app = Starlette(
        routes=[
            *ingest_routes,
            *user_routes,
            *analytics_routes,
            *kpi_routes,
            *workspace_routes,
            *catalog_routes,
            *campaign_routes,
            *segment_routes,
            Route("/healthz", healthz, methods=["GET"]),
            openapi_route,
        ],
        exception_handlers={
            BrazeError: braze_error_handler,
            HTTPException: http_exception_handler,
            StorageBusy: storage_busy_handler,
            Exception: unexpected_error_handler,
        },
        lifespan=lifespan,
        # Adds X-RateLimit-* to every response of a counted request (none when limits are off).
        middleware=[Middleware(RateLimitHeaders)] if settings.rate_limits else [],
    )
    app.state.settings = settings
    app.state.rate_limiter = RateLimiter(
        engine,
        enabled=settings.rate_limits,
        redis_url=settings.redis_url,
        redis_prefix=settings.redis_prefix,
    )
    app.state.engine = engine
    app.state.keyring = KeyRing(engine)
    app.state.apps = AppDirectory(engine)
    return app


def app_from_env() -> Starlette:
    """Factory for `uvicorn --factory` workers: settings from `HERON_*`, schema already current."""
    return create_app(Settings.from_env(), run_migrations=False)
