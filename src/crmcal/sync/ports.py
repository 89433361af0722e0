"""The two small ports the engine sees (DESIGN principle 2). The connectors satisfy them
structurally; nothing here knows HTTP or JSON."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from crmcal.connectors.graph.client import AttachmentInfo
from crmcal.connectors.results import WriteResult
from crmcal.domain import (
    CalendarChanges,
    CrmEvent,
    CrmUser,
    EventRelation,
    Item,
    ItemDraft,
    ItemError,
    ItemPatch,
    RecordRef,
)
from crmcal.domain.crm import CrmOpportunity

Scalar = str | int | float | bool | None


class CalendarPort(Protocol):
    """A user's Outlook calendar (Microsoft Graph)."""

    def delta(
        self, mailbox: str, window_start: datetime, window_end: datetime, cursor: str | None
    ) -> CalendarChanges: ...

    def set_categories(
        self, mailbox: str, categories: Mapping[str, Sequence[str]]
    ) -> list[WriteResult[str]]: ...

    def ensure_categories(self, mailbox: str, wanted: Mapping[str, str]) -> object: ...

    def get_items(self, mailbox: str, ids: Sequence[str]) -> list[Item]: ...

    def fetch_items(
        self, mailbox: str, ids: Sequence[str]
    ) -> tuple[list[Item], list[ItemError]]: ...

    def create_items(self, mailbox: str, drafts: Sequence[ItemDraft]) -> list[WriteResult[int]]: ...

    def delete_items(self, mailbox: str, ids: Sequence[str]) -> list[WriteResult[str]]: ...

    def update_items(
        self, mailbox: str, changes: Sequence[tuple[str, ItemPatch]]
    ) -> list[WriteResult[str]]: ...

    def list_attachments(self, mailbox: str, item_id: str) -> list[AttachmentInfo]: ...

    def get_attachment_bytes(self, mailbox: str, item_id: str, attachment_id: str) -> bytes: ...


class CrmPort(Protocol):
    """The org's Salesforce."""

    guid_field: str | None

    def find_people(self, emails: Iterable[str]) -> list[RecordRef]: ...

    def users(self, emails: Iterable[str] = (), ids: Iterable[str] = ()) -> list[CrmUser]: ...

    def accounts_by_domain(self, domains: Iterable[str]) -> dict[str, list[RecordRef]]: ...

    def open_opportunities(self, account_ids: Sequence[str]) -> list[CrmOpportunity]: ...

    def account_ids_with_contacts(self, account_ids: Sequence[str]) -> set[str]: ...

    def create_records(
        self, sobject: str, records: Sequence[Mapping[str, Scalar]]
    ) -> list[WriteResult[int]]: ...

    def attachments_of(self, parent_ids: Sequence[str]) -> list[tuple[str, str, str, int]]: ...

    def create_attachment(
        self,
        parent_id: str,
        name: str,
        data: bytes,
        *,
        content_type: str = "application/octet-stream",
        description: str = "",
    ) -> str: ...

    def records_by_ids(self, ids: Sequence[str]) -> list[RecordRef]: ...

    def events_by_natural_keys(
        self, owner_ids: Sequence[str], starts: Sequence[datetime]
    ) -> list[CrmEvent]: ...

    def events_by_ids(self, ids: Sequence[str]) -> list[CrmEvent]: ...

    def events_by_guid(self, guids: Sequence[str], field: str | None = None) -> list[CrmEvent]: ...

    def create_events(self, events: Sequence[CrmEvent]) -> list[WriteResult[int]]: ...

    def delete_events(self, ids: Sequence[str]) -> list[WriteResult[str]]: ...

    def upsert_events(
        self, events: Sequence[CrmEvent], ext_field: str | None = None
    ) -> list[WriteResult[int]]: ...

    def update_records(
        self, sobject: str, records: Sequence[Mapping[str, Scalar]]
    ) -> list[WriteResult[str]]: ...

    def relations_for(self, event_ids: Sequence[str]) -> list[EventRelation]: ...

    def create_relations(self, relations: Sequence[EventRelation]) -> list[WriteResult[int]]: ...

    def delete_relations(self, ids: Sequence[str]) -> list[WriteResult[str]]: ...
