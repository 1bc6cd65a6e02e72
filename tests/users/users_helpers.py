"""Helpers for the user-identity tests: calls with Braze bodies, and looks at what is stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from conftest import Workspace, auth
from heron.store.schema import events, purchases, user_aliases, users


def days_ago(days: float) -> str:
    """An ISO 8601 UTC time `days` before now (exports list the last 90 days' events)."""
    moment = datetime.now(UTC) - timedelta(days=days)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


WHEN = days_ago(1)


def post(client: TestClient, ws: Workspace, path: str, body: Any) -> Any:
    """POST a JSON body with the workspace's key; return the response."""
    return client.post(path, json=body, headers=auth(ws.key))


def track(client: TestClient, ws: Workspace, body: dict[str, Any]) -> dict[str, Any]:
    """POST /users/track, require 201 and no errors; return the body."""
    response = post(client, ws, "/users/track", body)
    assert response.status_code == 201, response.text
    assert "errors" not in response.json(), response.text
    return response.json()  # type: ignore[no-any-return]


def alias(name: str, label: str = "device") -> dict[str, str]:
    """A user alias object."""
    return {"alias_name": name, "alias_label": label}


def event(user: dict[str, Any], name: str = "played", when: str = WHEN) -> dict[str, Any]:
    """An event object for a user identifier (`{"external_id": ...}` or `{"user_alias": ...}`)."""
    return {**user, "name": name, "time": when}


def purchase(
    user: dict[str, Any], product: str = "gem", when: str = WHEN, price: float = 2.0, qty: int = 1
) -> dict[str, Any]:
    """A purchase object."""
    return {
        **user,
        "product_id": product,
        "currency": "USD",
        "price": price,
        "quantity": qty,
        "time": when,
    }


def make_alias_user(client: TestClient, ws: Workspace, name: str, **attrs: Any) -> None:
    """Create an alias-only profile through /users/track (with optional attributes)."""
    track(
        client,
        ws,
        {"attributes": [{"user_alias": alias(name), "_update_existing_only": False, **attrs}]},
    )


def export(client: TestClient, ws: Workspace, **body: Any) -> dict[str, Any]:
    """POST /users/export/ids; require 201; return the body."""
    response = post(client, ws, "/users/export/ids", body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def one_user(client: TestClient, ws: Workspace, external_id: str) -> dict[str, Any]:
    """The exported profile of one external_id (which must exist)."""
    found = export(client, ws, external_ids=[external_id])
    assert len(found["users"]) == 1, found
    return found["users"][0]  # type: ignore[no-any-return]


def count(engine: Engine, table: Any, **where: Any) -> int:
    """Rows of a table matching column == value conditions."""
    query = select(func.count()).select_from(table)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def user_id(engine: Engine, ws: Workspace, external_id: str) -> int | None:
    """The stored id of an external_id's profile."""
    with engine.connect() as conn:
        found = conn.execute(
            select(users.c.id).where(
                users.c.workspace_id == ws.id, users.c.external_id == external_id
            )
        ).scalar()
    return None if found is None else int(found)


def alias_owner(engine: Engine, ws: Workspace, name: str, label: str = "device") -> int | None:
    """The profile id holding an alias."""
    with engine.connect() as conn:
        found = conn.execute(
            select(user_aliases.c.user_id).where(
                user_aliases.c.workspace_id == ws.id,
                user_aliases.c.alias_name == name,
                user_aliases.c.alias_label == label,
            )
        ).scalar()
    return None if found is None else int(found)


__all__ = ["events", "purchases", "user_aliases", "users"]
