"""`Braze`: the synchronous client, one method per endpoint of heron and Braze.

Example:
    >>> from heron_client import Braze
    >>> with Braze("KEY", "http://127.0.0.1:8080") as braze:  # doctest: +SKIP
    ...     braze.track(events=[{"external_id": "u1", "name": "played", "time": "2026-01-01"}])
    ...     for event in braze.iter_events():
    ...         print(event["name"])
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, cast

import httpx

from heron_client import _base
from heron_client import _calls as calls
from heron_client._calls import Call, Definition, SortDirection, Unit
from heron_client._errors import HeronClientError
from heron_client._pages import Page
from heron_client._retry import RetryPolicy
from heron_client._track import MAX_OBJECTS_PER_ARRAY, TrackReport, plan_batches
from heron_client._types import (
    AliasesResponse,
    AliasUpdate,
    CampaignDataPoint,
    CampaignDetails,
    CampaignSummary,
    CatalogKind,
    CustomAttributeExport,
    DeleteResponse,
    EventCount,
    EventExport,
    ExportIdsResponse,
    HealthResponse,
    KpiPoint,
    ManagedCampaign,
    ManagedItem,
    ManagedSegment,
    MergeUpdate,
    NewAlias,
    PurchaseQuantity,
    RevenuePoint,
    SegmentDetails,
    SegmentSize,
    SegmentSummary,
    SuccessResponse,
    TrackResponse,
    UserAlias,
    WorkspaceResponse,
)

__all__ = ["Braze"]

When = _base.When
Objects = _base.Objects


class Braze:
    """A synchronous client for heron or Braze: `Braze(api_key, base_url)`."""

    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        timeout: float | httpx.Timeout = _base.DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        max_connections: int = 10,
    ) -> None:
        self.settings = _base.ClientSettings(api_key, base_url, timeout, retry)
        self._http = httpx.Client(
            transport=transport, **self.settings.http_options(max_connections)
        )
        self._sleep: Callable[[float], None] = time.sleep

    # -- plumbing -------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> Braze:
        """Use as a context manager that closes the connections."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the connections."""
        self.close()

    def send(self, call: Call) -> httpx.Response:
        """Send a call, retrying by the policy; the 2xx response, or the final error raised."""
        attempt = 0
        while True:
            error: HeronClientError | None
            try:
                response = self._http.request(call.method, call.path, **_base.request_kwargs(call))
            except httpx.TransportError as exc:
                error = _base.transport_error(exc)
            else:
                error = _base.check(response)
                if error is None:
                    return response
            wait = self.settings.retry.delay(error, attempt)
            if wait is None:
                raise error
            self._sleep(wait)
            attempt += 1

    def _json(self, call: Call) -> Any:
        """Send a call and decode its JSON object."""
        return _base.decode(self.send(call))

    def _one(self, call: Call, key: str) -> Any:
        """Send a call and take the single object under `key` of its answer."""
        return _base.one(self.send(call), key)

    def _page(self, call: Call, key: str) -> Page[Any]:
        """One cursor page: the items and the `Link` neighbours."""
        response = self.send(call)
        return Page.from_response(response, _base.items(response, key))

    def _follow(self, call: Call, key: str) -> Iterator[Any]:
        """Every item of a cursor-paged list, following `Link: rel="next"`."""
        url: str | None = None
        while True:
            page = self._page(call if url is None else _base.link_call(url), key)
            yield from page.items
            url = page.next_url
            if url is None:
                return

    def _numbered(
        self, make: Callable[[int], Call], key: str, page_size: int | None, start: int = 0
    ) -> Iterator[Any]:
        """Every item of a page-numbered list, from `start` to the first short or empty page."""
        page = start
        while True:
            response = self.send(make(page))
            found = _base.items(response, key)
            yield from found
            if _base.last_page(found, page_size):
                return
            page += 1

    # -- users ----------------------------------------------------------------------------------

    def track(
        self,
        attributes: Objects = None,
        events: Objects = None,
        purchases: Objects = None,
        *,
        idempotency_key: str | None = None,
    ) -> TrackResponse:
        """`POST /users/track` (at most 75 objects per array; see `track_all` for more).

        The request carries an `Idempotency-Key` (a fresh one unless given), reused by its
        retries, so heron never stores a retried request twice; Braze ignores the header.
        """
        key = idempotency_key or _base.new_idempotency_key()
        return cast(
            TrackResponse,
            self._json(calls.users_track(attributes, events, purchases, key)),
        )

    def track_raw(self, content: bytes, *, idempotency_key: str | None = None) -> TrackResponse:
        """`POST /users/track` with a body already encoded as JSON."""
        key = idempotency_key or _base.new_idempotency_key()
        return cast(TrackResponse, self._json(calls.users_track_raw(content, key)))

    def track_all(
        self,
        attributes: Objects = None,
        events: Objects = None,
        purchases: Objects = None,
        *,
        batch_size: int = MAX_OBJECTS_PER_ARRAY,
    ) -> TrackReport:
        """Track any number of objects in valid batches; errors carry the caller's indexes.

        A batch that still fails after the retries is recorded in the report (each of its
        objects gets a `fatal` error) and the next batches are sent.
        """
        report = TrackReport()
        for batch in plan_batches(attributes, events, purchases, batch_size):
            try:
                response = self.track(batch.attributes, batch.events, batch.purchases)
            except HeronClientError as exc:
                report.fail(batch, exc)
            else:
                report.add(batch, response)
        report.sort()
        return report

    def alias_new(self, user_aliases: Iterable[NewAlias]) -> AliasesResponse:
        """`POST /users/alias/new`: add aliases (to `external_id`, or as alias-only users)."""
        return cast(AliasesResponse, self._json(calls.users_alias_new(user_aliases)))

    def alias_update(self, alias_updates: Iterable[AliasUpdate]) -> AliasesResponse:
        """`POST /users/alias/update`: rename aliases."""
        return cast(AliasesResponse, self._json(calls.users_alias_update(alias_updates)))

    def identify(
        self,
        aliases_to_identify: Iterable[Mapping[str, Any]] | None = None,
        *,
        emails_to_identify: Iterable[Mapping[str, Any]] | None = None,
        phone_numbers_to_identify: Iterable[Mapping[str, Any]] | None = None,
        merge_behavior: Literal["none", "merge"] | None = None,
    ) -> AliasesResponse:
        """`POST /users/identify`: give alias-only (or email/phone) users an external_id."""
        return cast(
            AliasesResponse,
            self._json(
                calls.users_identify(
                    aliases_to_identify,
                    emails_to_identify,
                    phone_numbers_to_identify,
                    merge_behavior,
                )
            ),
        )

    def merge(self, merge_updates: Iterable[MergeUpdate]) -> SuccessResponse:
        """`POST /users/merge`: merge one user into another."""
        return cast(SuccessResponse, self._json(calls.users_merge(merge_updates)))

    def delete(
        self,
        *,
        external_ids: Iterable[str] | None = None,
        user_aliases: Iterable[UserAlias] | None = None,
        braze_ids: Iterable[str] | None = None,
        email_addresses: Iterable[Any] | None = None,
        phone_numbers: Iterable[Any] | None = None,
    ) -> DeleteResponse:
        """`POST /users/delete`: delete users by one kind of identifier."""
        return cast(
            DeleteResponse,
            self._json(
                calls.users_delete(
                    external_ids, user_aliases, braze_ids, email_addresses, phone_numbers
                )
            ),
        )

    def export_ids(
        self,
        *,
        external_ids: Iterable[str] | None = None,
        user_aliases: Iterable[UserAlias] | None = None,
        device_id: str | None = None,
        braze_id: str | None = None,
        email_address: str | None = None,
        phone: str | None = None,
        fields_to_export: Iterable[str] | None = None,
    ) -> ExportIdsResponse:
        """`POST /users/export/ids`: user profiles by identifier."""
        return cast(
            ExportIdsResponse,
            self._json(
                calls.users_export_ids(
                    external_ids,
                    user_aliases,
                    device_id,
                    braze_id,
                    email_address,
                    phone,
                    fields_to_export,
                )
            ),
        )

    # -- custom data exports --------------------------------------------------------------------

    def events(self, cursor: str | None = None) -> Page[EventExport]:
        """`GET /events`: one page of 50 custom events."""
        return self._page(calls.events(cursor), "events")

    def iter_events(self) -> Iterator[EventExport]:
        """Every custom event, following the `Link` header."""
        return self._follow(calls.events(None), "events")

    def custom_attributes(self, cursor: str | None = None) -> Page[CustomAttributeExport]:
        """`GET /custom_attributes`: one page of 50."""
        return self._page(calls.custom_attributes(cursor), "attributes")

    def iter_custom_attributes(self) -> Iterator[CustomAttributeExport]:
        """Every custom attribute, following the `Link` header."""
        return self._follow(calls.custom_attributes(None), "attributes")

    def events_list(self, page: int | None = None) -> list[str]:
        """`GET /events/list`: one page of up to 250 event names."""
        return cast(list[str], _base.items(self.send(calls.events_list(page)), "events"))

    def iter_event_names(self) -> Iterator[str]:
        """Every event name of `/events/list`, page after page."""
        return self._numbered(calls.events_list, "events", _base.EVENTS_LIST_PAGE)

    def product_list(self, page: int | None = None) -> list[str]:
        """`GET /purchases/product_list`: one page of product names."""
        return cast(list[str], _base.items(self.send(calls.product_list(page)), "products"))

    def iter_products(self) -> Iterator[str]:
        """Every product name, page after page (until an empty page)."""
        return self._numbered(calls.product_list, "products", None)

    # -- data series ----------------------------------------------------------------------------

    def events_data_series(
        self,
        event: str,
        length: int,
        *,
        unit: Unit | None = None,
        ending_at: When = None,
        app_id: str | None = None,
        segment_id: str | None = None,
    ) -> list[EventCount]:
        """`GET /events/data_series`: occurrences of a custom event per day or hour."""
        call = calls.events_data_series(event, length, unit, ending_at, app_id, segment_id)
        return cast(list[EventCount], _base.items(self.send(call), "data"))

    def purchases_quantity_series(
        self,
        length: int,
        *,
        unit: Unit | None = None,
        ending_at: When = None,
        app_id: str | None = None,
        product: str | None = None,
    ) -> list[PurchaseQuantity]:
        """`GET /purchases/quantity_series`: items purchased per day or hour."""
        call = calls.purchases_series("quantity_series", length, unit, ending_at, app_id, product)
        return cast(list[PurchaseQuantity], _base.items(self.send(call), "data"))

    def purchases_revenue_series(
        self,
        length: int,
        *,
        unit: Unit | None = None,
        ending_at: When = None,
        app_id: str | None = None,
        product: str | None = None,
    ) -> list[RevenuePoint]:
        """`GET /purchases/revenue_series`: revenue per day or hour."""
        call = calls.purchases_series("revenue_series", length, unit, ending_at, app_id, product)
        return cast(list[RevenuePoint], _base.items(self.send(call), "data"))

    def kpi_dau_series(
        self, length: int, *, ending_at: When = None, app_id: str | None = None
    ) -> list[KpiPoint]:
        """`GET /kpi/dau/data_series`: daily active users."""
        call = calls.kpi_series("dau", length, ending_at, app_id)
        return cast(list[KpiPoint], _base.items(self.send(call), "data"))

    def kpi_mau_series(
        self, length: int, *, ending_at: When = None, app_id: str | None = None
    ) -> list[KpiPoint]:
        """`GET /kpi/mau/data_series`: rolling 30-day active users."""
        call = calls.kpi_series("mau", length, ending_at, app_id)
        return cast(list[KpiPoint], _base.items(self.send(call), "data"))

    def kpi_new_users_series(
        self, length: int, *, ending_at: When = None, app_id: str | None = None
    ) -> list[KpiPoint]:
        """`GET /kpi/new_users/data_series`: new users per day."""
        call = calls.kpi_series("new_users", length, ending_at, app_id)
        return cast(list[KpiPoint], _base.items(self.send(call), "data"))

    # -- campaigns ------------------------------------------------------------------------------

    def campaigns_list(
        self,
        page: int | None = None,
        *,
        include_archived: bool | None = None,
        sort_direction: SortDirection | None = None,
        last_edit_time_gt: datetime | str | None = None,
    ) -> list[CampaignSummary]:
        """`GET /campaigns/list`: one page of up to 100 campaigns."""
        call = calls.campaigns_list(page, include_archived, sort_direction, last_edit_time_gt)
        return cast(list[CampaignSummary], _base.items(self.send(call), "campaigns"))

    def iter_campaigns(
        self,
        *,
        include_archived: bool | None = None,
        sort_direction: SortDirection | None = None,
        last_edit_time_gt: datetime | str | None = None,
    ) -> Iterator[CampaignSummary]:
        """Every campaign of `/campaigns/list`, page after page."""
        return self._numbered(
            lambda page: calls.campaigns_list(
                page, include_archived, sort_direction, last_edit_time_gt
            ),
            "campaigns",
            _base.CAMPAIGNS_PAGE,
        )

    def campaign_details(
        self, campaign_id: str, *, post_launch_draft_version: bool | None = None
    ) -> CampaignDetails:
        """`GET /campaigns/details`."""
        call = calls.campaign_details(campaign_id, post_launch_draft_version)
        return cast(CampaignDetails, self._json(call))

    def campaign_data_series(
        self, campaign_id: str, length: int, *, ending_at: When = None
    ) -> list[CampaignDataPoint]:
        """`GET /campaigns/data_series`: daily send and conversion statistics."""
        call = calls.campaign_data_series(campaign_id, length, ending_at)
        return cast(list[CampaignDataPoint], _base.items(self.send(call), "data"))

    # -- segments -------------------------------------------------------------------------------

    def segments_list(
        self, page: int | None = None, *, sort_direction: SortDirection | None = None
    ) -> list[SegmentSummary]:
        """`GET /segments/list`: one page of up to 100 segments."""
        call = calls.segments_list(page, sort_direction)
        return cast(list[SegmentSummary], _base.items(self.send(call), "segments"))

    def iter_segments(
        self, *, sort_direction: SortDirection | None = None
    ) -> Iterator[SegmentSummary]:
        """Every segment of `/segments/list`, page after page."""
        return self._numbered(
            lambda page: calls.segments_list(page, sort_direction),
            "segments",
            _base.SEGMENTS_PAGE,
        )

    def segment_details(self, segment_id: str) -> SegmentDetails:
        """`GET /segments/details`."""
        return cast(SegmentDetails, self._json(calls.segment_details(segment_id)))

    def segment_data_series(
        self, segment_id: str, length: int, *, ending_at: When = None
    ) -> list[SegmentSize]:
        """`GET /segments/data_series`: estimated daily size."""
        call = calls.segment_data_series(segment_id, length, ending_at)
        return cast(list[SegmentSize], _base.items(self.send(call), "data"))

    # -- heron management API -------------------------------------------------------------------

    def catalog_list(
        self, kind: CatalogKind, cursor: str | None = None, *, status: str | None = None
    ) -> Page[ManagedItem]:
        """`GET /heron/v1/<kind>`: one page of 50 entries with governance fields."""
        return self._page(calls.catalog_list(kind, cursor, status), kind)

    def iter_catalog(
        self, kind: CatalogKind, *, status: str | None = None
    ) -> Iterator[ManagedItem]:
        """Every entry of a heron catalog, following the `Link` header."""
        return self._follow(calls.catalog_list(kind, None, status), kind)

    def catalog_details(self, kind: CatalogKind, name: str) -> ManagedItem:
        """`GET /heron/v1/<kind>/details`: one entry."""
        return self._item(calls.catalog_details(kind, name), kind)

    def catalog_create(
        self,
        kind: CatalogKind,
        name: str,
        *,
        description: str | None = None,
        tag_names: Iterable[str] | None = None,
        included_in_analytics_report: bool | None = None,
        data_type: str | None = None,
    ) -> ManagedItem:
        """`POST /heron/v1/<kind>`: pre-create a name."""
        fields = calls.catalog_fields(
            name, description, tag_names, included_in_analytics_report, data_type
        )
        return self._item(calls.catalog_create(kind, fields), kind)

    def catalog_update(
        self,
        kind: CatalogKind,
        name: str,
        *,
        description: str | None = None,
        tag_names: Iterable[str] | None = None,
        included_in_analytics_report: bool | None = None,
        data_type: str | None = None,
    ) -> ManagedItem:
        """`POST /heron/v1/<kind>/update`: change the fields given."""
        fields = calls.catalog_fields(
            name, description, tag_names, included_in_analytics_report, data_type
        )
        return self._item(calls.catalog_update(kind, fields), kind)

    def catalog_blocklist(self, kind: CatalogKind, names: Iterable[str]) -> list[ManagedItem]:
        """`POST /heron/v1/<kind>/blocklist`: drop new data for up to 100 names."""
        return self._action(kind, "blocklist", names)

    def catalog_unblock(self, kind: CatalogKind, names: Iterable[str]) -> list[ManagedItem]:
        """`POST /heron/v1/<kind>/unblock`."""
        return self._action(kind, "unblock", names)

    def catalog_trash(self, kind: CatalogKind, names: Iterable[str]) -> list[ManagedItem]:
        """`POST /heron/v1/<kind>/trash` (events and custom attributes)."""
        return self._action(kind, "trash", names)

    def catalog_restore(self, kind: CatalogKind, names: Iterable[str]) -> list[ManagedItem]:
        """`POST /heron/v1/<kind>/restore` (events and custom attributes)."""
        return self._action(kind, "restore", names)

    def _item(self, call: Call, kind: CatalogKind) -> ManagedItem:
        """The single entry of a catalog management answer."""
        return cast(ManagedItem, self._one(call, _base.SINGULAR[kind]))

    def _action(
        self, kind: CatalogKind, action: calls.CatalogAction, names: Iterable[str]
    ) -> list[ManagedItem]:
        """A bulk status change."""
        response = self.send(calls.catalog_action(kind, action, names))
        return cast(list[ManagedItem], _base.items(response, kind))

    def workspace(self) -> WorkspaceResponse:
        """`GET /heron/v1/workspace`: the key's workspace and its settings."""
        return cast(WorkspaceResponse, self._json(calls.workspace_get()))

    def update_workspace(self, *, time_zone: str) -> WorkspaceResponse:
        """`PUT /heron/v1/workspace`: change the time zone (rebuilds the rollups)."""
        return cast(WorkspaceResponse, self._json(calls.workspace_update(time_zone)))

    # -- heron: segment definitions -------------------------------------------------------------

    def segment_definitions(self, *, include_archived: bool | None = None) -> list[ManagedSegment]:
        """`GET /heron/v1/segments`: every segment definition (one answer, no pages)."""
        call = calls.segment_definitions(include_archived)
        return cast(list[ManagedSegment], _base.items(self.send(call), "segments"))

    def iter_segment_definitions(
        self, *, include_archived: bool | None = None
    ) -> Iterator[ManagedSegment]:
        """Every segment definition, oldest first."""
        return iter(self.segment_definitions(include_archived=include_archived))

    def segment_definition(self, segment_id: str) -> ManagedSegment:
        """`GET /heron/v1/segments/details`: one definition with its size."""
        return cast(ManagedSegment, self._one(calls.segment_definition(segment_id), "segment"))

    def segment_create(self, definition: Definition) -> ManagedSegment:
        """`POST /heron/v1/segments`: `name`, `filter` (a filter tree), `description`, `tags`."""
        return cast(ManagedSegment, self._one(calls.segment_create(definition), "segment"))

    def segment_update(self, segment_id: str, changes: Definition) -> ManagedSegment:
        """`POST /heron/v1/segments/update`: the fields given replace the stored ones."""
        call = calls.segment_update(segment_id, changes)
        return cast(ManagedSegment, self._one(call, "segment"))

    def segment_archive(self, segment_id: str) -> ManagedSegment:
        """`POST /heron/v1/segments/archive`: no longer listed, evaluated or usable in series."""
        call = calls.segment_action("archive", segment_id)
        return cast(ManagedSegment, self._one(call, "segment"))

    def segment_unarchive(self, segment_id: str) -> ManagedSegment:
        """`POST /heron/v1/segments/unarchive`."""
        call = calls.segment_action("unarchive", segment_id)
        return cast(ManagedSegment, self._one(call, "segment"))

    def segment_delete(self, segment_id: str) -> SuccessResponse:
        """`POST /heron/v1/segments/delete`: the definition, its members, sizes and analytics."""
        return cast(SuccessResponse, self._json(calls.segment_action("delete", segment_id)))

    def segment_tracking(self, segment_id: str, enabled: bool) -> ManagedSegment:
        """`POST /heron/v1/segments/tracking`: analytics tracking on or off."""
        call = calls.segment_tracking(segment_id, enabled)
        return cast(ManagedSegment, self._one(call, "segment"))

    # -- heron: campaign definitions ------------------------------------------------------------

    def campaign_definitions(
        self, page: int | None = None, *, include_archived: bool | None = None
    ) -> list[ManagedCampaign]:
        """`GET /heron/v1/campaigns`: one page of up to 100 full definitions."""
        call = calls.campaign_definitions(page, include_archived)
        return cast(list[ManagedCampaign], _base.items(self.send(call), "campaigns"))

    def iter_campaign_definitions(
        self, *, include_archived: bool | None = None
    ) -> Iterator[ManagedCampaign]:
        """Every campaign definition, page after page."""
        return self._numbered(
            lambda page: calls.campaign_definitions(page, include_archived),
            "campaigns",
            _base.CAMPAIGN_DEFINITIONS_PAGE,
        )

    def campaign_definition(self, campaign_id: str) -> ManagedCampaign:
        """`GET /heron/v1/campaigns/details`: one campaign with its `id`."""
        call = calls.campaign_definition(campaign_id)
        return cast(ManagedCampaign, self._one(call, "campaign"))

    def campaign_create(
        self, definition: Definition, *, campaign_id: str | None = None
    ) -> ManagedCampaign:
        """`POST /heron/v1/campaigns`: create; `campaign_id` keeps a Braze API id (409 if taken)."""
        call = calls.campaign_create(definition, campaign_id)
        return cast(ManagedCampaign, self._one(call, "campaign"))

    def campaign_update(self, campaign_id: str, changes: Definition) -> ManagedCampaign:
        """`POST /heron/v1/campaigns/update`: top-level fields given replace the stored ones."""
        call = calls.campaign_update(campaign_id, changes)
        return cast(ManagedCampaign, self._one(call, "campaign"))

    def campaign_archive(self, campaign_id: str) -> ManagedCampaign:
        """`POST /heron/v1/campaigns/archive`."""
        call = calls.campaign_action("archive", campaign_id)
        return cast(ManagedCampaign, self._one(call, "campaign"))

    def campaign_unarchive(self, campaign_id: str) -> ManagedCampaign:
        """`POST /heron/v1/campaigns/unarchive`."""
        call = calls.campaign_action("unarchive", campaign_id)
        return cast(ManagedCampaign, self._one(call, "campaign"))

    # -- heron: the service ---------------------------------------------------------------------

    def health(self) -> HealthResponse:
        """`GET /healthz`: `{"status": "ok"}` once heron runs (not a Braze endpoint)."""
        return cast(HealthResponse, self._json(calls.health()))

    def openapi(self) -> dict[str, Any]:
        """`GET /openapi.json`: heron's OpenAPI document (not a Braze endpoint)."""
        return cast(dict[str, Any], self._json(calls.openapi_document()))
