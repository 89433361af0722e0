"""N1, N2, R6, Y3: items that cannot sync, and the reason a person reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from crmcal.domain import Item, OrgSettings

MAX_TIMED = timedelta(days=14)
"""N2: Salesforce's limit for multiday Events (20,160 minutes)."""


@dataclass(frozen=True, slots=True)
class CannotSync:
    code: str
    reason: str
    """Human text, used in the status category `Status: Not synced: <reason>` and the issue."""


def cannot_sync(item: Item, org: OrgSettings) -> CannotSync | None:
    """The first reason the item cannot be shared, or None."""
    if item.end < item.start:
        return CannotSync("end_before_start", "the item ends before it starts")
    if item.is_recurring and not item.is_all_day:
        if not org.recurring_sync:
            return CannotSync(
                "recurring_sync_off",
                "recurring series are not synced (org setting recurring_sync is off)",
            )
        return CannotSync(
            "recurring_not_yet",
            "recurring series are not synced by this version of crmcal yet",
        )
    length = item.end - item.start
    if item.is_all_day:
        if item.is_recurring:
            return CannotSync("recurring_all_day", "recurring all-day items are not synced")
        if length > timedelta(hours=org.max_all_day_hours):
            return CannotSync(
                "all_day_too_long",
                f"all-day event longer than {org.max_all_day_hours} hours",
            )
    elif length > MAX_TIMED:
        return CannotSync("too_long", "event longer than 14 days (the Salesforce limit)")
    return None
