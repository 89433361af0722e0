"""G1 and G4, pure: subjects from templates, and the feed decision table."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from crmcal.domain.feeds import FeedRecord
from crmcal.domain.settings import CalendarObject
from crmcal.rules import feeds as f
from crmcal.rules.window import Window
from tests.factories import item

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
W = Window(NOW - timedelta(days=30), NOW + timedelta(days=90))
KEY = "calendar:023000000000001"


def _want(subject: str = "Fair", days: int = 3) -> f.Desired:
    start = NOW + timedelta(days=days)
    return f.Desired(subject, start, start + timedelta(hours=2), False, "Fairs")


def _stored(d: f.Desired, item_id: str | None = "item-1", gen: int = 0) -> f.Stored:
    return f.Stored(KEY, "00U1", item_id, d, gen)


def _plan(**kw: object) -> list[f.FeedAction]:
    base: dict[str, object] = {"window": W, "active": frozenset({KEY})}
    base.update(kw)
    return f.plan_feed(f.FeedInputs(**base))  # type: ignore[arg-type]


def test_G4_subject_template_fields_and_rendering() -> None:
    obj = CalendarObject(object="Site_Visit__c", date_field="Day__c",
                         subject_template="Visit {Name} at {Account.Name} ({Missing__c})")  # fmt: skip
    assert f.template_fields(obj.subject_template) == ("Name", "Account.Name", "Missing__c")
    assert f.object_fields(obj) == ("Day__c", "Name", "Account.Name", "Missing__c")
    rec = FeedRecord("a001", fields=(("Name", "Plant"), ("Account.Name", "Fabrikam")))
    assert f.render_subject(obj.subject_template, rec) == "Visit Plant at Fabrikam ()"
    assert f.object_category(obj) == "Site Visit"
    assert f.render_subject("{Name}" * 300, FeedRecord("a1", fields=(("Name", "x"),))) == "x" * 255


def test_G4_all_day_and_timed_records() -> None:
    day = datetime(2026, 12, 1, tzinfo=UTC)
    obj = CalendarObject(object="Opportunity", date_field="CloseDate")
    d = f.desired_from_record(FeedRecord("0061", start=day, is_all_day=True), obj)
    assert d is not None and (d.start, d.end, d.is_all_day) == (day, day + timedelta(days=1), True)
    timed = CalendarObject(object="X__c", start_field="S__c", end_field="E__c")
    bad = FeedRecord("a1", start=day, end=day - timedelta(hours=1))
    assert f.desired_from_record(bad, timed) is None  # end before start: nothing to show
    assert f.desired_from_record(FeedRecord("a1"), timed) is None


@pytest.mark.parametrize(
    ("case", "kw", "expected"),
    [
        ("new record", {"changes": {KEY: {"00U1": _want()}}}, [("create", 0)]),
        ("unchanged", {"stored": {(KEY, "00U1"): _stored(_want())}}, []),
        ("changed in Salesforce", {"changes": {KEY: {"00U1": _want("Moved")}},
                                   "stored": {(KEY, "00U1"): _stored(_want())}}, [("patch", None)]),
        ("deleted in Salesforce", {"changes": {KEY: {"00U1": None}},
                                   "stored": {(KEY, "00U1"): _stored(_want())}}, [("delete", None)]),
        ("deleted in Outlook", {"stored": {(KEY, "00U1"): _stored(_want(), gen=2)},
                                "gone": frozenset({"item-1"})}, [("create", 3)]),
        ("create interrupted", {"stored": {(KEY, "00U1"): _stored(_want(), None, 1)}},
         [("create", 1)]),
        ("left the window", {"changes": {KEY: {"00U1": _want(days=400)}},
                             "stored": {(KEY, "00U1"): _stored(_want())}}, [("delete", None)]),
        ("full read without it", {"stored": {(KEY, "00U1"): _stored(_want())},
                                  "full": frozenset({KEY})}, [("delete", None)]),
        ("feed dropped", {"stored": {(KEY, "00U1"): _stored(_want())}, "active": frozenset()},
         [("delete", None)]),
        ("out of window, new", {"changes": {KEY: {"00U1": _want(days=400)}}}, []),
        ("failed patch, due again", {"stored": {(KEY, "00U1"): replace(_stored(_want()),
                                                                       retry="patch")}},
         [("patch", None)]),
        ("failed delete, due again", {"stored": {(KEY, "00U1"): replace(_stored(_want()),
                                                                        retry="delete")}},
         [("delete", None)]),
    ],
)  # fmt: skip
def test_G1_G4_feed_decision_table(
    case: str, kw: dict[str, object], expected: list[object]
) -> None:
    got = []
    for a in _plan(**kw):
        if isinstance(a, f.FeedCreate):
            got.append(("create", a.generation))
        elif isinstance(a, f.FeedPatch):
            got.append(("patch", None))
        else:
            got.append(("delete", None))
    assert got == expected, case


def test_G1_outlook_edit_is_put_back_and_own_write_is_not_repeated() -> None:
    want = _want()
    same = replace(item(subject=want.subject, start=want.start, hours=2, categories=("Fairs",)),
                   id="item-1")  # fmt: skip
    edited = replace(same, subject="Mine")
    stored = {(KEY, "00U1"): _stored(want)}
    assert _plan(stored=stored, seen={"item-1": same}) == []
    [a] = _plan(stored=stored, seen={"item-1": edited})
    assert isinstance(a, f.FeedPatch) and a.reason.startswith("edited in Outlook")
    assert a.desired.patch().subject == "Fair"
