"""C1-C4, M5, X6: the Outlook categories crmcal owns, their colours, and how an item's list changes.

crmcal owns exactly these names: `Salesforce`, `Sync Error`, `Salesforce Unsync`, and every name
that starts with `Status: `. It never adds, removes or recolours anything else (C4).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

SALESFORCE = "Salesforce"
SYNC_ERROR = "Sync Error"
UNSYNC = "Salesforce Unsync"
STATUS_PREFIX = "Status: "


class Color(StrEnum):
    """Graph `outlookCategory.color` presets (api-facts A9)."""

    RED = "preset0"
    ORANGE = "preset1"
    YELLOW = "preset3"
    GREEN = "preset4"
    BLUE = "preset7"
    GRAY = "preset12"


class StatusKind(StrEnum):
    TRACKED = "tracked"
    WAITING = "waiting"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Status:
    """The one status category an item carries (C3)."""

    kind: StatusKind
    text: str

    @property
    def category(self) -> str:
        return f"{STATUS_PREFIX}{self.text}"

    @property
    def color(self) -> Color:
        return {
            StatusKind.TRACKED: Color.GREEN,
            StatusKind.WAITING: Color.YELLOW,
            StatusKind.ERROR: Color.ORANGE,
        }[self.kind]


TRACKED = Status(StatusKind.TRACKED, "Tracked successfully.")
WAITING_FOR_ORGANIZER = Status(StatusKind.WAITING, "Waiting for the organizer")


def unresolved(addresses: tuple[str, ...]) -> Status:
    return Status(StatusKind.WAITING, "Unresolved participants: " + ", ".join(addresses))


def required_fields_missing(fields: tuple[str, ...]) -> Status:
    return Status(StatusKind.ERROR, "Required fields are missing: " + ", ".join(fields))


def not_synced(reason: str) -> Status:
    return Status(StatusKind.ERROR, f"Not synced: {reason}")


BASE_COLORS: dict[str, Color] = {
    SALESFORCE: Color.BLUE,
    SYNC_ERROR: Color.RED,
    UNSYNC: Color.GRAY,
}
"""C1, C2, M5: the fixed categories and their colours."""


def color_of(category: str) -> Color | None:
    """The colour C4 gives one of crmcal's categories in the master list; None for the user's
    own. A status's colour follows its kind: tracked green, waiting yellow, errors orange."""
    if category in BASE_COLORS:
        return BASE_COLORS[category]
    if not category.startswith(STATUS_PREFIX):
        return None
    text = category[len(STATUS_PREFIX) :]
    if text == TRACKED.text:
        return TRACKED.color
    if text == WAITING_FOR_ORGANIZER.text or text.startswith("Unresolved participants: "):
        return Color.YELLOW
    return Color.ORANGE


def is_owned(category: str) -> bool:
    """C4: crmcal touches only these."""
    return category in BASE_COLORS or category.startswith(STATUS_PREFIX)


def master_categories(statuses: Iterable[Status] = ()) -> dict[str, Color]:
    """The master-category entries a user needs for the given statuses (C4)."""
    out = dict(BASE_COLORS)
    for s in statuses:
        out[s.category] = s.color
    return out


def wants_share(categories: tuple[str, ...]) -> bool:
    """M1: the user marked the item for sharing."""
    return SALESFORCE in categories


def wants_unsync(categories: tuple[str, ...]) -> bool:
    """M5: the user asked to remove the item from Salesforce."""
    return UNSYNC in categories


def apply(
    current: tuple[str, ...],
    *,
    shared: bool,
    status: Status | None,
    error: bool = False,
) -> tuple[str, ...]:
    """The item's new category list: the user's own categories untouched and in order, then
    crmcal's: `Salesforce` when shared or marked (C1, X6 puts it back), `Sync Error` when the last
    session failed for it (C2), and exactly one status (C3). `Salesforce Unsync` is dropped."""
    mine = [c for c in current if not is_owned(c)]
    if shared:
        mine.append(SALESFORCE)
    if error:
        mine.append(SYNC_ERROR)
    if status is not None:
        mine.append(status.category)
    return tuple(mine)


def strip(current: tuple[str, ...]) -> tuple[str, ...]:
    """Every crmcal category removed (M5, X3, W3), the user's own kept."""
    return tuple(c for c in current if not is_owned(c))
