"""Attachments of shared items (T1-T2): which files go to Salesforce, and why the others don't.

Pure: the session lists an item's attachments (names, sizes, kinds; no content) and this module
decides; `crmcal.sync.attachments` reads the chosen files and writes the `Attachment` records.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from crmcal.domain import ItemType
from crmcal.domain.settings import AttachmentLimits

SALESFORCE_JSON_BASE64_MAX = 39_321_600
"""api-facts B8: a non-multipart JSON body carries at most 37.5 MB of base64."""


class AttachmentLike(Protocol):
    """What the rules need to know of one Outlook attachment."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def size(self) -> int: ...

    @property
    def is_inline(self) -> bool: ...

    @property
    def kind(self) -> str:
        """`file`, `item` (an attached message or event) or `reference` (a cloud link)."""
        ...


@dataclass(frozen=True, slots=True)
class Choice:
    attachment_id: str
    name: str
    size: int
    upload: bool
    reason: str = ""
    """Why the file is skipped (T2: named in the session log)."""


def extension(name: str) -> str:
    base = name.strip().rsplit("/", 1)[-1]
    return base.rpartition(".")[2].lower() if "." in base.strip(".") else ""


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB" if n >= 1024 * 1024 else f"{n} bytes"


def skip_item_reason(item_type: ItemType) -> str | None:
    """T2: not for single occurrences of a series (an occurrence or a changed occurrence)."""
    if item_type in (ItemType.OCCURRENCE, ItemType.EXCEPTION):
        return "the item is a single occurrence of a series"
    return None


def choose(
    attachments: Sequence[AttachmentLike],
    limits: AttachmentLimits,
    *,
    item_type: ItemType = ItemType.SINGLE_INSTANCE,
    uploaded: Iterable[str] = (),
    uploaded_bytes: int = 0,
) -> list[Choice]:
    """T2 for one item's attachments, in their order: inline images and cloud links are skipped,
    then the extension allow-list and the min/max file size apply, then the total for the item
    (files uploaded by earlier sessions count towards it). Files already uploaded get no choice
    at all (nothing to do, nothing to say)."""
    done = set(uploaded)
    whole = skip_item_reason(item_type)
    allowed = set(limits.allowed_extensions)
    total = uploaded_bytes
    out: list[Choice] = []
    for a in attachments:
        if a.id in done:
            continue
        reason = whole
        ext = extension(a.name)
        if reason is None:
            if a.kind == "reference":
                reason = "cloud attachment (a link, not a file)"
            elif a.kind != "file":
                reason = "attached Outlook item, not a file"
            elif a.is_inline:
                reason = "inline image"
            elif ext not in allowed:
                reason = f"extension {'.' + ext if ext else '(none)'} is not allowed"
            elif a.size < limits.min_file_bytes:
                reason = f"smaller than the minimum of {_mb(limits.min_file_bytes)}"
            elif a.size > limits.max_file_bytes:
                reason = f"larger than the maximum of {_mb(limits.max_file_bytes)}"
            elif a.size * 4 // 3 + 4 > SALESFORCE_JSON_BASE64_MAX:
                reason = "too large for a Salesforce Attachment (37.5 MB of base64)"
            elif total + a.size > limits.max_total_bytes:
                reason = f"the item's files would exceed {_mb(limits.max_total_bytes)} together"
        if reason is None:
            total += a.size
            out.append(Choice(a.id, a.name, a.size, True))
        else:
            out.append(Choice(a.id, a.name, a.size, False, reason))
    return out


__all__ = ["AttachmentLike", "Choice", "choose", "extension", "skip_item_reason"]
