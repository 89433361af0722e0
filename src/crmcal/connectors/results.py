"""Per-item outcomes of bulk writes (Graph `$batch`, Salesforce collections)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from crmcal.connectors.errors import ConnectorError

K = TypeVar("K")


@dataclass(frozen=True)
class WriteResult(Generic[K]):
    """What happened to one item of a bulk write.

    `key` is whatever the caller used to identify the item in its request (an item id, a position,
    an action id); `id` is the id the API gave or confirmed; `error` is set when `ok` is false.
    """

    key: K
    ok: bool
    id: str | None = None
    error: ConnectorError | None = None
    created: bool = False
