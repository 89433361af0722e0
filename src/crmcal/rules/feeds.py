"""G1 and G4, pure: Salesforce records pushed one way into Outlook calendars.

`desired_*` turn a record into the item crmcal wants in Outlook; `plan_feed` compares that with
what crmcal remembers and what Outlook shows, and returns the writes. One-way means: Salesforce
decides; an Outlook edit is put back and an Outlook deletion is undone at the next session; a
record deleted (or gone from the window, or from the feed) deletes its item.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from crmcal.domain import CrmEvent, Item, ItemDraft, ItemPatch, Sensitivity, ShowAs
from crmcal.domain.feeds import FeedRecord
from crmcal.domain.settings import CalendarObject
from crmcal.rules.window import Window

SUBJECT_MAX = 255

# Category colours for feeds: crmcal's own statuses use blue (preset7), red (preset0) and the
# colours of `rules.categories`; feeds take the others, chosen by a stable hash of the name.
FEED_COLORS: tuple[str, ...] = (
    "preset1",  # orange
    "preset3",  # yellow
    "preset4",  # green
    "preset5",  # teal
    "preset8",  # purple
    "preset9",  # cranberry
)


def calendar_feed_key(calendar_id: str) -> str:
    return f"calendar:{calendar_id[:15]}"


def object_feed_key(obj: CalendarObject) -> str:
    return f"object:{obj.object}"


def object_category(obj: CalendarObject) -> str:
    """G4: the category is named after the object type unless the admin names one."""
    return obj.category or obj.object.removesuffix("__c").replace("_", " ")


def feed_color(category: str) -> str:
    digest = hashlib.sha256(category.encode()).digest()
    return FEED_COLORS[digest[0] % len(FEED_COLORS)]


def template_fields(template: str) -> tuple[str, ...]:
    """The field names a subject template uses (`{Name} at {Account.Name}` -> Name,
    Account.Name). Raises ValueError for a template Python's format cannot parse."""
    out: list[str] = []
    for _, name, _, _ in string.Formatter().parse(template):
        if name and name not in out:
            out.append(name)
    return tuple(out)


def object_fields(obj: CalendarObject) -> tuple[str, ...]:
    """Every field a feed of this object reads (besides Id, OwnerId and the system fields)."""
    times = tuple(f for f in (obj.date_field, obj.start_field, obj.end_field) if f)
    names: list[str] = []
    for f in (*times, *template_fields(obj.subject_template)):
        if f.lower() not in {n.lower() for n in names} and f.lower() not in {"id", "ownerid"}:
            names.append(f)
    return tuple(names)


def render_subject(template: str, rec: FeedRecord) -> str:
    """The item subject: the template's literal text with each `{Field}` (or `{Rel.Field}`)
    replaced by the record's value; a field the record lacks renders empty, never raises."""
    parts: list[str] = []
    try:
        for literal, name, spec, conv in string.Formatter().parse(template):
            parts.append(literal)
            if name is None:
                continue
            v = rec.field(name)
            value: Any = "" if v is None else v
            if conv == "r":
                value = repr(value)
            try:
                parts.append(format(value, spec or ""))
            except (ValueError, TypeError):
                parts.append(str(value))
        text = "".join(parts)
    except ValueError:  # an unbalanced brace: the admin's template is broken
        text = str(rec.field("Name") or rec.id)
    return " ".join(text.split())[:SUBJECT_MAX] or rec.id


@dataclass(frozen=True, slots=True)
class Desired:
    """The item crmcal wants in Outlook for one record."""

    subject: str
    start: datetime
    end: datetime
    is_all_day: bool
    category: str
    location: str = ""
    body: str = ""
    private: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "subject": self.subject,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "is_all_day": self.is_all_day,
            "category": self.category,
            "location": self.location,
            "body": self.body,
            "private": self.private,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Desired:
        return cls(
            subject=str(data["subject"]),
            start=datetime.fromisoformat(str(data["start"])),
            end=datetime.fromisoformat(str(data["end"])),
            is_all_day=bool(data["is_all_day"]),
            category=str(data["category"]),
            location=str(data.get("location") or ""),
            body=str(data.get("body") or ""),
            private=bool(data.get("private")),
        )

    def draft(self, transaction_id: str) -> ItemDraft:
        return ItemDraft(
            subject=self.subject,
            start=self.start,
            end=self.end,
            time_zone="UTC",
            is_all_day=self.is_all_day,
            body=self.body,
            location=self.location,
            sensitivity=Sensitivity.PRIVATE if self.private else Sensitivity.NORMAL,
            show_as=ShowAs.FREE if self.is_all_day else ShowAs.BUSY,
            categories=(self.category,),
            transaction_id=transaction_id,
        )

    def patch(self) -> ItemPatch:
        """Everything crmcal owns on the item, to put it back as Salesforce has it."""
        return ItemPatch(
            subject=self.subject,
            start=self.start,
            end=self.end,
            time_zone="UTC",
            is_all_day=self.is_all_day,
            location=self.location,
            sensitivity=Sensitivity.PRIVATE if self.private else Sensitivity.NORMAL,
            categories=(self.category,),
        )

    def matches(self, item: Item) -> bool:
        """Does the Outlook item show what Salesforce has (the fields crmcal owns)?"""
        return (
            item.subject == self.subject
            and item.start == self.start
            and item.end == self.end
            and item.is_all_day == self.is_all_day
            and (item.location or "") == self.location
            and item.is_private == self.private
            and tuple(item.categories) == (self.category,)
        )


def _all_day(start: datetime, end: datetime | None) -> tuple[datetime, datetime]:
    first = datetime(start.year, start.month, start.day, tzinfo=UTC)
    last = end if end is not None and end > first else first + timedelta(days=1)
    days = max((last - first).days, 1)
    return first, first + timedelta(days=days)


def desired_from_event(ev: CrmEvent, category: str) -> Desired | None:
    """G1: a public calendar's Event as an item (None when it has no time to show)."""
    if ev.is_all_day and ev.activity_date is not None:
        days = max((ev.duration_minutes or 1440) // 1440, 1)
        first = datetime(
            ev.activity_date.year, ev.activity_date.month, ev.activity_date.day, tzinfo=UTC
        )
        start, end = first, first + timedelta(days=days)
    elif ev.start is not None and ev.end is not None and ev.end >= ev.start:
        start, end = ev.start, ev.end
    else:
        return None
    return Desired(
        subject=(ev.subject or "(no subject)")[:SUBJECT_MAX],
        start=start,
        end=end,
        is_all_day=ev.is_all_day,
        category=category,
        location=ev.location[:255],
        body=ev.description,
        private=ev.is_private,
    )


def desired_from_record(rec: FeedRecord, obj: CalendarObject) -> Desired | None:
    """G4: a record as an item: all-day on its date, or timed from start to end."""
    if rec.start is None:
        return None
    if rec.is_all_day:
        start, end = _all_day(rec.start, rec.end)
    elif rec.end is not None and rec.end >= rec.start:
        start, end = rec.start, rec.end
    else:
        return None
    return Desired(
        subject=render_subject(obj.subject_template, rec),
        start=start,
        end=end,
        is_all_day=rec.is_all_day,
        category=object_category(obj),
        location=rec.location[:255],
        body=rec.description,
        private=rec.is_private,
    )


# ------------------------------------------------------------------------------------- planning


@dataclass(frozen=True, slots=True)
class Stored:
    """What crmcal remembers of one feed item in one mailbox."""

    feed: str
    record_id: str
    item_id: str | None
    """None while its create is in flight (a crash between journal and answer)."""
    desired: Desired
    generation: int = 0
    """Bumped each time the item is made again (after the user deleted it): a fresh
    `transactionId`, since Graph keeps the old one for the deleted item."""
    retry: str | None = None
    """`patch` or `delete`: that write failed last session and is due again (the cursor has
    moved on, so the change will not be read again)."""


@dataclass(frozen=True, slots=True)
class FeedCreate:
    feed: str
    record_id: str
    desired: Desired
    generation: int

    @property
    def transaction_id(self) -> str:
        return f"crmcal-feed-{self.record_id}-{self.generation}"


@dataclass(frozen=True, slots=True)
class FeedPatch:
    feed: str
    record_id: str
    item_id: str
    desired: Desired
    reason: str


@dataclass(frozen=True, slots=True)
class FeedDelete:
    feed: str
    record_id: str
    item_id: str | None
    reason: str


FeedAction = FeedCreate | FeedPatch | FeedDelete


@dataclass(frozen=True, slots=True)
class FeedInputs:
    """One mailbox's share of the feeds in one session."""

    window: Window
    active: frozenset[str]
    """Feed keys this mailbox receives now: stored items of any other feed go."""
    changes: Mapping[str, Mapping[str, Desired | None]] = field(default_factory=dict)
    """feed -> record id -> what the record wants now (None: deleted or no longer for us)."""
    full: frozenset[str] = frozenset()
    """Feeds read in full this cycle: stored records they did not return are gone."""
    stored: Mapping[tuple[str, str], Stored] = field(default_factory=dict)
    seen: Mapping[str, Item] = field(default_factory=dict)
    """Feed items the Outlook delta returned (changed in Outlook, or by crmcal itself)."""
    gone: frozenset[str] = frozenset()
    """Feed item ids confirmed deleted in Outlook."""


def _in_window(d: Desired, w: Window) -> bool:
    return w.touches(d.start, d.end)


def plan_feed(i: FeedInputs) -> list[FeedAction]:
    """G1, G4: the Outlook writes that make this mailbox's feed items what Salesforce says."""
    out: list[FeedAction] = []
    keys = set(i.stored) | {(f, r) for f, recs in i.changes.items() for r in recs}
    for feed, rid in sorted(keys):
        st = i.stored.get((feed, rid))
        recs = i.changes.get(feed, {})
        if feed not in i.active:
            if st is not None:
                out.append(FeedDelete(feed, rid, st.item_id, "feed no longer configured"))
            continue
        if rid in recs:
            want = recs[rid]
        elif st is not None and feed in i.full:
            want = None  # a full read did not return it: it left the feed
        elif st is not None:
            want = st.desired
        else:
            continue
        if want is None or not _in_window(want, i.window):
            if st is not None:
                why = "deleted in Salesforce" if want is None else "left the window"
                out.append(FeedDelete(feed, rid, st.item_id, why))
            continue
        if st is None:
            out.append(FeedCreate(feed, rid, want, 0))
            continue
        if st.item_id is None:
            out.append(FeedCreate(feed, rid, want, st.generation))  # finish an interrupted create
            continue
        if st.retry == "delete" and st.item_id is not None:
            out.append(FeedDelete(feed, rid, st.item_id, "retry of a failed delete"))
            continue
        if st.item_id in i.gone:
            out.append(FeedCreate(feed, rid, want, st.generation + 1))  # one way: undo
            continue
        if want != st.desired or st.retry == "patch":
            out.append(FeedPatch(feed, rid, st.item_id, want, "changed in Salesforce"))
            continue
        seen = i.seen.get(st.item_id)
        if seen is not None and not want.matches(seen):
            out.append(FeedPatch(feed, rid, st.item_id, want, "edited in Outlook: put back"))
    return out


def categories_for(actions: Iterable[FeedAction]) -> dict[str, str]:
    """The master categories the creates and patches need (name -> preset)."""
    out: dict[str, str] = {}
    for a in actions:
        if isinstance(a, FeedCreate | FeedPatch):
            out[a.desired.category] = feed_color(a.desired.category)
    return out
