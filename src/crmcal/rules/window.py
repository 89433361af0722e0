"""W1, W4: the sliding window and which items in it a session may auto-share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crmcal.domain import Item, OrgSettings


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime

    def touches(self, start: datetime, end: datetime) -> bool:
        """W1: an item whose time range touches the window (a zero-length item at its start too)."""
        if end <= start:
            return self.start <= start < self.end
        return start < self.end and end > self.start

    def key(self) -> str:
        """Identifies the window a Graph delta link was made for (dates, UTC)."""
        return f"{self.start.date().isoformat()}/{self.end.date().isoformat()}"


def window(now: datetime, org: OrgSettings) -> Window:
    """W1: from `now - window_past_days` to `now + window_future_days`."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    return Window(now - org.window_past, now + org.window_future)


def in_window(item: Item, w: Window) -> bool:
    return w.touches(item.start, item.end)


def historical(item: Item, enabled_at: datetime | None, org: OrgSettings) -> bool:
    """W4: with `backfill_on_enable` off, items that already existed when crmcal was switched on
    for the user are historical and not auto-shared (manual sharing still works)."""
    if org.backfill_on_enable or enabled_at is None:
        return False
    born = item.created or item.last_modified
    return born is not None and born < enabled_at
