"""Everything the app mounts for segments: routes (with their OpenAPI entries) and the tasks."""

from __future__ import annotations

from starlette.applications import Starlette

from heron.segments import docs as _docs  # registers the OpenAPI entries
from heron.segments.background import SegmentTasks
from heron.segments.manage import routes as _manage_routes
from heron.segments.routes import routes as _export_routes

__all__ = ["routes", "start_tasks"]

routes = [*_export_routes, *_manage_routes]
del _docs


def start_tasks(app: Starlette) -> SegmentTasks | None:
    """Start the evaluator and snapshot loop (unless the settings turn it off)."""
    if not app.state.settings.segment_evaluator:
        return None
    tasks = SegmentTasks(app.state.engine, sqlite_synchronous=app.state.settings.sqlite_synchronous)
    tasks.start()
    return tasks
