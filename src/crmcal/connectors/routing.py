"""One calendar port over two backends: each mailbox is reached through Graph or EWS (issue 20).

Exchange Online mailboxes stay on Graph; on-premises (and hybrid on-premises) mailboxes go
through EWS. `CalendarRouter` hands every call to the client of the mailbox's backend, so the
engine keeps seeing one `CalendarPort`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from crmcal.connectors.errors import ItemError as ConnectorItemError
from crmcal.connectors.ews.client import EwsClient
from crmcal.connectors.graph.client import AttachmentInfo, GraphClient, Subscription
from crmcal.connectors.results import WriteResult
from crmcal.domain.calendar import CalendarChanges, Item, ItemDraft, ItemError, ItemPatch


class _Calls:
    """Both clients' request counters read as one (`total`, `snapshot`, `[kind]`)."""

    def __init__(self, *counters: Any) -> None:
        self._counters = counters

    @property
    def total(self) -> int:
        return sum(c.total for c in self._counters)

    @property
    def this_thread(self) -> int:
        return sum(c.this_thread for c in self._counters)

    def snapshot(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self._counters:
            for k, v in c.snapshot().items():
                out[k] = out.get(k, 0) + v
        return out

    def __getitem__(self, kind: str) -> int:
        return sum(c[kind] for c in self._counters)

    def reset(self) -> None:
        for c in self._counters:
            c.reset()


class CalendarRouter:
    """`graph` for the mailboxes on Exchange Online, `ews` for those on Exchange Server."""

    def __init__(
        self,
        *,
        graph: GraphClient | None,
        ews: EwsClient | None,
        default: str,
        overrides: Mapping[str, str] | None = None,
    ) -> None:
        if default not in ("graph", "ews"):
            raise ValueError("default must be 'graph' or 'ews'")
        self.graph = graph
        self.ews = ews
        self.default = default
        self.overrides = {k.strip().lower(): v for k, v in (overrides or {}).items()}
        self.calls = _Calls(*(c.calls for c in (graph, ews) if c is not None))

    def backend(self, mailbox: str) -> str:
        return self.overrides.get(mailbox.strip().lower(), self.default)

    def _for(self, mailbox: str) -> Any:
        client = self.ews if self.backend(mailbox) == "ews" else self.graph
        if client is None:
            raise ValueError(
                f"{mailbox}: its calendar backend ({self.backend(mailbox)}) is not set up"
            )
        return client

    def close(self) -> None:
        for c in (self.graph, self.ews):
            if c is not None:
                c.close()

    def delta(
        self, mailbox: str, window_start: datetime, window_end: datetime, cursor: str | None
    ) -> CalendarChanges:
        result: CalendarChanges = self._for(mailbox).delta(
            mailbox, window_start, window_end, cursor
        )
        return result

    def set_categories(
        self, mailbox: str, categories: Mapping[str, Sequence[str]]
    ) -> list[WriteResult[str]]:
        out: list[WriteResult[str]] = self._for(mailbox).set_categories(mailbox, categories)
        return out

    def ensure_categories(self, mailbox: str, wanted: Mapping[str, str]) -> list[str]:
        out: list[str] = self._for(mailbox).ensure_categories(mailbox, wanted)
        return out

    def get_items(self, mailbox: str, ids: Sequence[str]) -> list[Item]:
        out: list[Item] = self._for(mailbox).get_items(mailbox, ids)
        return out

    def fetch_items(self, mailbox: str, ids: Sequence[str]) -> tuple[list[Item], list[ItemError]]:
        out: tuple[list[Item], list[ItemError]] = self._for(mailbox).fetch_items(mailbox, ids)
        return out

    def create_items(self, mailbox: str, drafts: Sequence[ItemDraft]) -> list[WriteResult[int]]:
        out: list[WriteResult[int]] = self._for(mailbox).create_items(mailbox, drafts)
        return out

    def delete_items(self, mailbox: str, ids: Sequence[str]) -> list[WriteResult[str]]:
        out: list[WriteResult[str]] = self._for(mailbox).delete_items(mailbox, ids)
        return out

    def update_items(
        self, mailbox: str, changes: Sequence[tuple[str, ItemPatch]]
    ) -> list[WriteResult[str]]:
        out: list[WriteResult[str]] = self._for(mailbox).update_items(mailbox, changes)
        return out

    def list_attachments(self, mailbox: str, item_id: str) -> list[AttachmentInfo]:
        out: list[AttachmentInfo] = self._for(mailbox).list_attachments(mailbox, item_id)
        return out

    def get_attachment_bytes(self, mailbox: str, item_id: str, attachment_id: str) -> bytes:
        out: bytes = self._for(mailbox).get_attachment_bytes(mailbox, item_id, attachment_id)
        return out

    def instances(self, mailbox: str, master_id: str, start: datetime, end: datetime) -> list[Item]:
        out: list[Item] = self._for(mailbox).instances(mailbox, master_id, start, end)
        return out

    def calendar_view(self, mailbox: str, start: datetime, end: datetime) -> list[Item]:
        out: list[Item] = self._for(mailbox).calendar_view(mailbox, start, end)
        return out

    # -- change notifications (Graph only; decision 0113) ------------------------------------------

    def _graph(self) -> GraphClient:
        if self.graph is None:
            raise ConnectorItemError(
                "change notifications need Graph; EWS mailboxes sync on schedule"
            )
        return self.graph

    def create_subscription(
        self,
        mailbox: str,
        notification_url: str,
        expiration: datetime,
        client_state: str,
        *,
        change_types: Sequence[str] = ("created", "updated", "deleted"),
        lifecycle_url: str | None = None,
    ) -> Subscription:
        if self.backend(mailbox) == "ews":
            raise ConnectorItemError(
                f"{mailbox} is on Exchange Server: no Graph subscription; sessions keep it in sync"
            )
        return self._graph().create_subscription(
            mailbox,
            notification_url,
            expiration,
            client_state,
            change_types=change_types,
            lifecycle_url=lifecycle_url,
        )

    def renew_subscription(self, subscription_id: str, expiration: datetime) -> Subscription:
        return self._graph().renew_subscription(subscription_id, expiration)

    def delete_subscription(self, subscription_id: str) -> None:
        self._graph().delete_subscription(subscription_id)
