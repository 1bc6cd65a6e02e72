"""Every endpoint as a request description, shared by the sync and the async client.

A `Call` says method, path, query and body; the clients only send it (with retries) and decode
the answer. Keeping the endpoint knowledge here means `Braze` and `AsyncBraze` cannot drift.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from heron_client._types import AliasUpdate, CatalogKind, MergeUpdate, NewAlias, UserAlias

__all__ = ["Call", "ParamValue", "SortDirection", "Unit"]

Definition = Mapping[str, Any]

ParamValue = str | int | float | bool | datetime | date | None
Unit = Literal["day", "hour"]
SortDirection = Literal["asc", "desc"]
CatalogAction = Literal["blocklist", "unblock", "trash", "restore"]
SegmentAction = Literal["archive", "unarchive", "delete"]
CampaignAction = Literal["archive", "unarchive"]
HERON = "/heron/v1"


@dataclass(frozen=True, slots=True)
class Call:
    """One HTTP request: `method` `path` with `params`, and a JSON `body` (or raw `content`)."""

    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    body: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _text(value: ParamValue) -> str:
    """A query value as Braze expects it: booleans lower-case, times in ISO 8601."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def query(**values: ParamValue) -> dict[str, str]:
    """Query parameters without the ones left out (None)."""
    return {name: _text(value) for name, value in values.items() if value is not None}


def body(**values: Any) -> dict[str, Any]:
    """A JSON body without the fields left out (None); sequences become lists."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            continue
        out[name] = list(value) if isinstance(value, tuple) else value
    return out


# -- users ------------------------------------------------------------------------------------


def users_track(
    attributes: Iterable[Mapping[str, Any]] | None,
    events: Iterable[Mapping[str, Any]] | None,
    purchases: Iterable[Mapping[str, Any]] | None,
    idempotency_key: str,
) -> Call:
    """`POST /users/track` with up to 75 objects per array."""
    payload = body(
        attributes=None if attributes is None else list(attributes),
        events=None if events is None else list(events),
        purchases=None if purchases is None else list(purchases),
    )
    return Call("POST", "/users/track", body=payload, headers={"Idempotency-Key": idempotency_key})


def users_track_raw(content: bytes, idempotency_key: str) -> Call:
    """`POST /users/track` with a body already encoded as JSON (bulk importers)."""
    return Call(
        "POST",
        "/users/track",
        content=content,
        headers={"Idempotency-Key": idempotency_key, "Content-Type": "application/json"},
    )


def users_alias_new(user_aliases: Iterable[NewAlias]) -> Call:
    """`POST /users/alias/new`: up to 50 aliases."""
    return Call("POST", "/users/alias/new", body={"user_aliases": list(user_aliases)})


def users_alias_update(alias_updates: Iterable[AliasUpdate]) -> Call:
    """`POST /users/alias/update`: up to 50 renames."""
    return Call("POST", "/users/alias/update", body={"alias_updates": list(alias_updates)})


def users_identify(
    aliases_to_identify: Iterable[Mapping[str, Any]] | None,
    emails_to_identify: Iterable[Mapping[str, Any]] | None,
    phone_numbers_to_identify: Iterable[Mapping[str, Any]] | None,
    merge_behavior: str | None,
) -> Call:
    """`POST /users/identify`: at least one of the three lists."""
    return Call(
        "POST",
        "/users/identify",
        body=body(
            aliases_to_identify=_list(aliases_to_identify),
            emails_to_identify=_list(emails_to_identify),
            phone_numbers_to_identify=_list(phone_numbers_to_identify),
            merge_behavior=merge_behavior,
        ),
    )


def users_merge(merge_updates: Iterable[MergeUpdate]) -> Call:
    """`POST /users/merge`: up to 50 merges."""
    return Call("POST", "/users/merge", body={"merge_updates": list(merge_updates)})


def users_delete(
    external_ids: Iterable[str] | None,
    user_aliases: Iterable[UserAlias] | None,
    braze_ids: Iterable[str] | None,
    email_addresses: Iterable[Any] | None,
    phone_numbers: Iterable[Any] | None,
) -> Call:
    """`POST /users/delete`: one kind of identifier, up to 50."""
    return Call(
        "POST",
        "/users/delete",
        body=body(
            external_ids=_list(external_ids),
            user_aliases=_list(user_aliases),
            braze_ids=_list(braze_ids),
            email_addresses=_list(email_addresses),
            phone_numbers=_list(phone_numbers),
        ),
    )


def users_export_ids(
    external_ids: Iterable[str] | None,
    user_aliases: Iterable[UserAlias] | None,
    device_id: str | None,
    braze_id: str | None,
    email_address: str | None,
    phone: str | None,
    fields_to_export: Iterable[str] | None,
) -> Call:
    """`POST /users/export/ids`."""
    return Call(
        "POST",
        "/users/export/ids",
        body=body(
            external_ids=_list(external_ids),
            user_aliases=_list(user_aliases),
            device_id=device_id,
            braze_id=braze_id,
            email_address=email_address,
            phone=phone,
            fields_to_export=_list(fields_to_export),
        ),
    )


def _list(values: Iterable[Any] | None) -> list[Any] | None:
    """A list of the values, or None when left out."""
    return None if values is None else list(values)


# -- catalog exports and series ---------------------------------------------------------------


def events(cursor: str | None) -> Call:
    """`GET /events`: 50 per page, `cursor` from the previous page's `Link`."""
    return Call("GET", "/events", params=query(cursor=cursor))


def custom_attributes(cursor: str | None) -> Call:
    """`GET /custom_attributes`: 50 per page, cursor-paged."""
    return Call("GET", "/custom_attributes", params=query(cursor=cursor))


def events_list(page: int | None) -> Call:
    """`GET /events/list`: 250 names per page."""
    return Call("GET", "/events/list", params=query(page=page))


def product_list(page: int | None) -> Call:
    """`GET /purchases/product_list`: product names, page by page."""
    return Call("GET", "/purchases/product_list", params=query(page=page))


def events_data_series(
    event: str,
    length: int,
    unit: Unit | None,
    ending_at: datetime | date | str | None,
    app_id: str | None,
    segment_id: str | None,
) -> Call:
    """`GET /events/data_series`."""
    return Call(
        "GET",
        "/events/data_series",
        params=query(
            event=event,
            length=length,
            unit=unit,
            ending_at=ending_at,
            app_id=app_id,
            segment_id=segment_id,
        ),
    )


def purchases_series(
    which: Literal["quantity_series", "revenue_series"],
    length: int,
    unit: Unit | None,
    ending_at: datetime | date | str | None,
    app_id: str | None,
    product: str | None,
) -> Call:
    """`GET /purchases/quantity_series` or `/purchases/revenue_series`."""
    return Call(
        "GET",
        f"/purchases/{which}",
        params=query(length=length, unit=unit, ending_at=ending_at, app_id=app_id, product=product),
    )


def kpi_series(
    kpi: Literal["dau", "mau", "new_users"],
    length: int,
    ending_at: datetime | date | str | None,
    app_id: str | None,
) -> Call:
    """`GET /kpi/{dau,mau,new_users}/data_series`."""
    return Call(
        "GET",
        f"/kpi/{kpi}/data_series",
        params=query(length=length, ending_at=ending_at, app_id=app_id),
    )


# -- campaigns and segments -------------------------------------------------------------------


def campaigns_list(
    page: int | None,
    include_archived: bool | None,
    sort_direction: SortDirection | None,
    last_edit_time_gt: datetime | str | None,
) -> Call:
    """`GET /campaigns/list`: 100 per page."""
    params = query(page=page, include_archived=include_archived, sort_direction=sort_direction)
    if last_edit_time_gt is not None:
        params["last_edit.time[gt]"] = _text(last_edit_time_gt)
    return Call("GET", "/campaigns/list", params=params)


def campaign_details(campaign_id: str, post_launch_draft_version: bool | None) -> Call:
    """`GET /campaigns/details`."""
    return Call(
        "GET",
        "/campaigns/details",
        params=query(campaign_id=campaign_id, post_launch_draft_version=post_launch_draft_version),
    )


def campaign_data_series(
    campaign_id: str, length: int, ending_at: datetime | date | str | None
) -> Call:
    """`GET /campaigns/data_series`."""
    return Call(
        "GET",
        "/campaigns/data_series",
        params=query(campaign_id=campaign_id, length=length, ending_at=ending_at),
    )


def segments_list(page: int | None, sort_direction: SortDirection | None) -> Call:
    """`GET /segments/list`: 100 per page."""
    return Call("GET", "/segments/list", params=query(page=page, sort_direction=sort_direction))


def segment_details(segment_id: str) -> Call:
    """`GET /segments/details`."""
    return Call("GET", "/segments/details", params=query(segment_id=segment_id))


def segment_data_series(
    segment_id: str, length: int, ending_at: datetime | date | str | None
) -> Call:
    """`GET /segments/data_series`."""
    return Call(
        "GET",
        "/segments/data_series",
        params=query(segment_id=segment_id, length=length, ending_at=ending_at),
    )


# -- heron management API ---------------------------------------------------------------------


def catalog_list(kind: CatalogKind, cursor: str | None, status: str | None) -> Call:
    """`GET /heron/v1/<kind>`: 50 per page with governance fields."""
    return Call("GET", f"{HERON}/{kind}", params=query(cursor=cursor, status=status))


def catalog_details(kind: CatalogKind, name: str) -> Call:
    """`GET /heron/v1/<kind>/details?name=`."""
    return Call("GET", f"{HERON}/{kind}/details", params=query(name=name))


def catalog_fields(
    name: str,
    description: str | None,
    tag_names: Iterable[str] | None,
    included_in_analytics_report: bool | None,
    data_type: str | None,
) -> dict[str, Any]:
    """The body of a create or update: the name and the fields given."""
    return body(
        name=name,
        description=description,
        tag_names=_list(tag_names),
        included_in_analytics_report=included_in_analytics_report,
        data_type=data_type,
    )


def catalog_create(kind: CatalogKind, fields: dict[str, Any]) -> Call:
    """`POST /heron/v1/<kind>`: pre-create a name."""
    return Call("POST", f"{HERON}/{kind}", body=fields)


def catalog_update(kind: CatalogKind, fields: dict[str, Any]) -> Call:
    """`POST /heron/v1/<kind>/update`."""
    return Call("POST", f"{HERON}/{kind}/update", body=fields)


def catalog_action(kind: CatalogKind, action: CatalogAction, names: Iterable[str]) -> Call:
    """`POST /heron/v1/<kind>/<action>`: up to 100 names."""
    return Call("POST", f"{HERON}/{kind}/{action}", body={"names": list(names)})


def workspace_get() -> Call:
    """`GET /heron/v1/workspace`."""
    return Call("GET", f"{HERON}/workspace")


def workspace_update(time_zone: str) -> Call:
    """`PUT /heron/v1/workspace`."""
    return Call("PUT", f"{HERON}/workspace", body={"time_zone": time_zone})


def segment_definitions(include_archived: bool | None) -> Call:
    """`GET /heron/v1/segments`: every segment definition in one answer, oldest first."""
    return Call("GET", f"{HERON}/segments", params=query(include_archived=include_archived))


def segment_definition(segment_id: str) -> Call:
    """`GET /heron/v1/segments/details?segment_id=`."""
    return Call("GET", f"{HERON}/segments/details", params=query(segment_id=segment_id))


def segment_create(definition: Definition) -> Call:
    """`POST /heron/v1/segments`: `name`, `filter` and optionally `description`, `tags`."""
    return Call("POST", f"{HERON}/segments", body=dict(definition))


def segment_update(segment_id: str, changes: Definition) -> Call:
    """`POST /heron/v1/segments/update`: the fields given replace the stored ones."""
    return Call("POST", f"{HERON}/segments/update", body={**changes, "segment_id": segment_id})


def segment_action(action: SegmentAction, segment_id: str) -> Call:
    """`POST /heron/v1/segments/<action>` for one segment."""
    return Call("POST", f"{HERON}/segments/{action}", body={"segment_id": segment_id})


def segment_tracking(segment_id: str, enabled: bool) -> Call:
    """`POST /heron/v1/segments/tracking`: analytics tracking on or off."""
    return Call(
        "POST",
        f"{HERON}/segments/tracking",
        body={"segment_id": segment_id, "enabled": enabled},
    )


def campaign_definitions(page: int | None, include_archived: bool | None) -> Call:
    """`GET /heron/v1/campaigns`: 100 full definitions per page, oldest first."""
    return Call(
        "GET",
        f"{HERON}/campaigns",
        params=query(page=page, include_archived=include_archived),
    )


def campaign_definition(campaign_id: str) -> Call:
    """`GET /heron/v1/campaigns/details?campaign_id=`."""
    return Call("GET", f"{HERON}/campaigns/details", params=query(campaign_id=campaign_id))


def campaign_create(definition: Definition, campaign_id: str | None) -> Call:
    """`POST /heron/v1/campaigns`: a definition, and the API id to keep (default a new one)."""
    payload = dict(definition)
    if campaign_id is not None:
        payload["id"] = campaign_id
    return Call("POST", f"{HERON}/campaigns", body=payload)


def campaign_update(campaign_id: str, changes: Definition) -> Call:
    """`POST /heron/v1/campaigns/update`: top-level fields given replace the stored ones."""
    return Call("POST", f"{HERON}/campaigns/update", body={**changes, "campaign_id": campaign_id})


def campaign_action(action: CampaignAction, campaign_id: str) -> Call:
    """`POST /heron/v1/campaigns/<action>` for one campaign."""
    return Call("POST", f"{HERON}/campaigns/{action}", body={"campaign_id": campaign_id})


# -- the service itself -----------------------------------------------------------------------


def health() -> Call:
    """`GET /healthz` (heron only): liveness and readiness."""
    return Call("GET", "/healthz")


def openapi_document() -> Call:
    """`GET /openapi.json` (heron only): the OpenAPI document of every endpoint."""
    return Call("GET", "/openapi.json")
