"""G2 end to end: a Microsoft 365 group calendar shared into Salesforce like a user calendar, over
HTTP against both emulators, with the delegated permission Graph requires (api-facts A12)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from crmcal.cli import Status, run_checks
from crmcal.config import Config
from crmcal.connectors.graph.errors import GraphAuthError
from crmcal.domain.settings import GroupCalendarSync
from crmcal.service.runner import run_sync
from crmcal.state import StateStore
from crmcal.state.models import SessionRow
from crmcal.sync.groups import DELEGATED_NEEDED

from .conftest import DOMAIN, World

ANN = f"ann@{DOMAIN}"
GROUP = f"sales-team@{DOMAIN}"
KNOWN = "eu1@fabrikam.example"


def _event(w: World, subject: str, hours: float, *, all_day_days: int = 0, **extra: Any) -> Any:
    start = (w.now + timedelta(days=2)).replace(minute=0, second=0)
    if all_day_days:
        d0 = start.date()
        body = {
            "subject": subject,
            "isAllDay": True,
            "start": {"dateTime": f"{d0.isoformat()}T00:00:00", "timeZone": "UTC"},
            "end": {
                "dateTime": f"{(d0 + timedelta(days=all_day_days)).isoformat()}T00:00:00",
                "timeZone": "UTC",
            },
        }
    else:
        body = {
            "subject": subject,
            "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "end": {
                "dateTime": (start + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S"),
                "timeZone": "UTC",
            },
        }
    body.update(extra)
    return w.sb.graph.seed_event(GROUP, body, created=w.now - timedelta(days=1))


def _setup(w: World) -> tuple[str, str]:
    owner = w.person(ANN)
    w.sb.graph.add_group(GROUP, "Sales team")
    contact = w.contact(KNOWN, "Known")
    w.org = w.org.model_copy(
        update={"group_calendars": (GroupCalendarSync(group=GROUP, owner=owner),)}
    )
    return owner, contact


def _config(w: World, *, delegated: bool = True) -> Config:
    cfg = w.config()
    if not delegated:
        return cfg
    rt = w.sb.graph.issue_refresh_token(cfg.graph.client_id, ANN)
    graph = cfg.graph.model_copy(update={"delegated_refresh_token": SecretStr(rt)})
    return cfg.model_copy(update={"graph": graph})


def _sync_all(w: World, cfg: Config) -> None:
    if w.store is None:
        w.store = StateStore(cfg.storage.url())
        w.store.migrate()
    run_sync(cfg, store=w.store, calendar=w.calendar, crm=w.crm, now=w.now)


def _group_sessions(w: World) -> list[SessionRow]:
    assert w.store is not None
    with w.store.session() as s:
        rows = list(s.scalars(select(SessionRow).where(SessionRow.mailbox == GROUP)))
        s.expunge_all()
        return rows


def test_g2_group_calendar_shared_and_events_over_24h_refused(world: World) -> None:
    """G2: the group's 1-hour meeting becomes an Event owned by the configured user and linked to
    the participant's Contact (L); a 30-hour event and a 2-day all-day event are refused with the
    reason; a second session writes nothing; a deleted group event deletes its Event."""
    owner, contact = _setup(world)
    meeting = _event(
        world,
        "Team pipeline review",
        1,
        attendees=[{"type": "required", "emailAddress": {"address": KNOWN}}],
    )
    _event(world, "Offsite", 30)
    _event(world, "Trade fair", 0, all_day_days=2)
    cfg = _config(world)
    _sync_all(world, cfg)
    evs = [e for e in world.events() if e.owner_id == owner]
    assert [(e.subject, e.who_id) for e in evs] == [("Team pipeline review", contact)]
    [s1] = _group_sessions(world)
    assert s1.status == "succeeded", s1.error
    assert s1.stats["created"] == 1 and s1.stats["refused"] == 2

    writes = world.crm.calls["collections:POST"], world.crm.calls["collections:PATCH"]
    _sync_all(world, cfg)
    s2 = _group_sessions(world)[-1]
    assert (s2.stats["created"], s2.stats["updated"], s2.stats["deleted"]) == (0, 0, 0)
    assert (world.crm.calls["collections:POST"], world.crm.calls["collections:PATCH"]) == writes

    # An edit in the group calendar reaches the Event; a deletion deletes it.
    world.sb.graph.update_event(GROUP, meeting.id, {"subject": "Pipeline review (moved)"})
    _sync_all(world, cfg)
    [ev] = [e for e in world.events() if e.owner_id == owner]
    assert ev.subject == "Pipeline review (moved)"
    world.sb.graph.delete_event(GROUP, meeting.id)
    _sync_all(world, cfg)
    assert [e for e in world.events() if e.owner_id == owner] == []


def test_g2_app_only_access_is_refused_and_the_session_says_why(world: World) -> None:
    """G2 / api-facts A12: Graph answers group calendars only to delegated tokens; the app-only
    client gets 403, and without `graph.delegated_refresh_token` the group's session fails with a
    message naming the delegated permission, while user sessions go on."""
    owner, _ = _setup(world)
    _event(world, "Team sync", 1)
    with pytest.raises(GraphAuthError) as ei:
        world.calendar.group_calendar_view(GROUP, world.now, world.now + timedelta(days=7))
    assert ei.value.status == 403
    _sync_all(world, _config(world, delegated=False))
    [s] = _group_sessions(world)
    assert s.status == "failed" and s.error == DELEGATED_NEEDED
    assert [e for e in world.events() if e.owner_id == owner] == []


@pytest.mark.parametrize("delegated", [False, True])
def test_g2_doctor_states_the_missing_delegated_permission(tmp_path: Path, delegated: bool) -> None:
    """G2: `crmcal doctor` says clearly when group calendars lack the delegated permission."""
    token = 'delegated_refresh_token = "0.rt"\n' if delegated else ""
    path = tmp_path / "crmcal.toml"
    path.write_text(
        f"""[storage]
data_dir = "{tmp_path.as_posix()}"
[graph]
tenant_id = "tenant"
client_id = "client"
client_secret = "secret"
{token}[org]
internal_domains = ["{DOMAIN}"]
[[org.group_calendars]]
group = "{GROUP}"
owner = "005000000000001AAA"
""",
        encoding="utf-8",
    )
    [g2] = [c for c in run_checks(path) if c.area.startswith("group calendars")]
    if delegated:
        assert g2.status is Status.OK and GROUP in g2.detail
    else:
        assert g2.status is Status.FAIL
        assert "delegated permission" in g2.detail and "Group.Read.All" in g2.detail


def test_g2_X7_group_deletions_are_held_over_the_guard_then_confirmed(world: World) -> None:
    """X7 for G2 (issue 18: group-calendar deletions were outside the guard): deleting more than
    half of a group calendar's linked meetings deletes none of their Events and raises an issue
    of the group's address; a later session still holds them; `--allow-mass-delete` confirms,
    the Events go and the issue closes."""
    owner, _contact = _setup(world)
    made = [_event(world, f"Group slot {i}", 1) for i in range(4)]
    cfg = _config(world)
    _sync_all(world, cfg)
    assert len([e for e in world.events() if e.owner_id == owner]) == 4
    for rec in made[:3]:
        world.sb.graph.delete_event(GROUP, rec.id)
    _sync_all(world, cfg)
    assert len([e for e in world.events() if e.owner_id == owner]) == 4
    assert world.store is not None
    [issue] = [i for i in world.store.open_issues(GROUP) if i.reason == "mass_delete_guard_group"]
    assert "would delete 3 Salesforce Events" in issue.message, issue.message
    assert _group_sessions(world)[-1].stats["held"] == 3
    _sync_all(world, cfg)  # still held
    assert len([e for e in world.events() if e.owner_id == owner]) == 4
    run_sync(cfg, store=world.store, calendar=world.calendar, crm=world.crm, now=world.now,
             allow_mass_delete=True)  # fmt: skip
    assert [e.subject for e in world.events() if e.owner_id == owner] == ["Group slot 3"]
    assert [
        i for i in world.store.open_issues(GROUP) if i.reason == "mass_delete_guard_group"
    ] == []
