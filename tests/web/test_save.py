"""M2 (Save), the record pickers (L7 escaping), O1 (force sync and pause), I1 issue actions and
settings changed in the dashboard reaching the runner."""

from __future__ import annotations

from crmcal.domain.settings import CreateRecordBy
from crmcal.rules import categories as cat
from tests.web._support import ALICE, BOB, Dash, csrf_of, set_org, sign_in

EXT = "pat@fabrikam.example"


def _records(d: Dash) -> dict[str, str]:
    sf = d.world.sb.salesforce
    acc = sf.add_account("Fabrikam", website="https://fabrikam.example")
    other = sf.add_account("Northwind Traders")
    return {
        "acc": acc,
        "other": other,
        "pat": sf.add_contact("Pat", email=EXT, account_id=acc),
        "obrien": sf.add_contact(
            "O'Brien", first_name="Shane", email="shane@northwind.example", account_id=other
        ),
        "opp": sf.add_opportunity("Northwind renewal", account_id=other),
    }


def test_m2_save_unshared_item_next_session_creates_event_with_exactly_those_links(
    dash: Dash,
) -> None:
    r = _records(dash)
    w = dash.world
    item = w.meeting(ALICE, "Pricing review", (EXT,))
    with dash.api(ALICE) as alice:
        resp = alice.post(
            "/api/v1/save", json={"item_id": item.id, "who_id": r["obrien"], "what_id": r["opp"]}
        )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "queued" and body["event_id"] is None
    assert cat.SALESFORCE in w.item(ALICE, item.id).categories  # M2: marked
    assert w.events() == []  # nothing created before the session
    w.sync(ALICE)
    [ev] = w.events()
    assert (ev.who_id, ev.what_id) == (r["obrien"], r["opp"])  # not Initial Search's Pat


def test_m2_save_on_linked_item_updates_event_at_once(dash: Dash) -> None:
    r = _records(dash)
    w = dash.world
    item = w.meeting(ALICE, "Kick-off", (EXT,))
    with dash.api(ALICE) as alice:
        assert alice.post("/api/v1/save", json={"item_id": item.id}).json()["status"] == "queued"
        w.sync(ALICE)
        [ev] = w.events()
        assert ev.who_id == r["pat"]  # Initial Search (L5)
        before = len(dash.sessions(ALICE))
        resp = alice.post(
            "/api/v1/save",
            json={"item_id": item.id, "who_id": r["obrien"], "what_id": r["other"]},
        )
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "updated" and resp.json()["event_id"] == ev.id
    [ev2] = w.events()
    assert (ev2.who_id, ev2.what_id) == (r["obrien"], r["other"])
    new = dash.sessions(ALICE)[: len(dash.sessions(ALICE)) - before]
    assert [s.trigger for s in new] == ["save"]  # a targeted run, no full session
    w.sync(ALICE)  # the next session keeps the choice
    [ev3] = w.events()
    assert (ev3.who_id, ev3.what_id) == (r["obrien"], r["other"])


def test_m2_save_refuses_wrong_record_kinds_and_unknown_ids(dash: Dash) -> None:
    r = _records(dash)
    item = dash.world.meeting(ALICE, "Demo", (EXT,))
    with dash.api(ALICE) as alice:
        bad = alice.post("/api/v1/save", json={"item_id": item.id, "who_id": r["acc"]})
        assert bad.status_code == 422 and "Contact or a Lead" in bad.text
        bad = alice.post("/api/v1/save", json={"item_id": item.id, "what_id": r["pat"]})
        assert bad.status_code == 422
        gone = "003" + "0" * 12
        bad = alice.post("/api/v1/save", json={"item_id": item.id, "who_id": gone})
        assert bad.status_code == 422 and "no such record" in bad.text
        assert alice.post("/api/v1/save", json={"item_id": "nope"}).status_code == 404
        bad = alice.post("/api/v1/save", json={"item_id": item.id, "who_id": "x' OR Id != '"})
        assert bad.status_code == 422


def test_l7_record_search_escapes_literals(dash: Dash) -> None:
    r = _records(dash)
    with dash.api(ALICE) as alice:
        got = alice.get("/api/v1/records/search", params={"q": "O'Bri", "kind": "who"}).json()
        assert [g["id"] for g in got] == [r["obrien"]]
        got = alice.get("/api/v1/records/search", params={"q": "north", "kind": "what"}).json()
        assert {g["id"] for g in got} == {r["other"], r["opp"]}
        # a LIKE wildcard or a quote in the text is matched literally, never as SOQL
        assert alice.get("/api/v1/records/search", params={"q": "%%"}).json() == []
        q = "' OR Name LIKE '%"
        assert alice.get("/api/v1/records/search", params={"q": q}).json() == []


def test_o1_pause_stops_sessions_and_force_sync_runs_one(dash: Dash) -> None:
    w = dash.world
    with dash.api(ALICE) as alice:
        assert alice.post(f"/api/v1/users/{ALICE}/pause", json={"paused": True}).json()["paused"]
        assert alice.post(f"/api/v1/users/{ALICE}/sync").status_code == 409
        w.sync()  # the runner leaves a paused user alone
        assert dash.sessions(ALICE) == [] and len(dash.sessions(BOB)) == 1
        assert not alice.post(f"/api/v1/users/{ALICE}/pause", json={"paused": False}).json()[
            "paused"
        ]
        s = alice.post(f"/api/v1/users/{ALICE}/sync").json()
    assert s["mailbox"] == ALICE and s["trigger"] == "force" and s["status"] == "succeeded"
    assert s["stats"]["graph_calls"] >= 1


def test_i1_retry_resolves_unresolved_participants_after_a_record_appears(dash: Dash) -> None:
    w = dash.world
    item = w.meeting(ALICE, "Intro call", ("new@contoso-partner.example",))
    w.set_categories(ALICE, item.id, (cat.SALESFORCE,))
    w.sync(ALICE)
    with dash.api(ALICE) as alice:
        [issue] = alice.get("/api/v1/issues").json()
        assert issue["reason"] == "unresolved_participants"
        assert issue["web_link"] and issue["subject"] == "Intro call"
        assert set(issue["actions"]) == {"retry", "create_record", "share_anyway", "dismiss"}
        res = alice.post(f"/api/v1/issues/{issue['id']}/actions", json={"action": "retry"}).json()
        assert res["resolved"] is False  # still no record
        w.sb.salesforce.add_contact("New", email="new@contoso-partner.example")
        res = alice.post(f"/api/v1/issues/{issue['id']}/actions", json={"action": "retry"}).json()
        assert res["resolved"] is True
        assert alice.get("/api/v1/issues").json() == []
    assert len(w.events()) == 1


def test_i1_share_anyway_links_the_chosen_name(dash: Dash) -> None:
    r = _records(dash)
    w = dash.world
    item = w.meeting(ALICE, "Stranger", ("who@unknown-co.example",))
    w.set_categories(ALICE, item.id, (cat.SALESFORCE,))
    w.sync(ALICE)
    with dash.api(ALICE) as alice:
        [issue] = alice.get("/api/v1/issues").json()
        bad = alice.post(f"/api/v1/issues/{issue['id']}/actions", json={"action": "share_anyway"})
        assert bad.status_code == 422
        res = alice.post(
            f"/api/v1/issues/{issue['id']}/actions",
            json={"action": "share_anyway", "who_id": r["pat"]},
        ).json()
    assert res["resolved"] is True
    [ev] = w.events()
    assert ev.who_id == r["pat"]


def test_i1_create_record_makes_the_contact_and_shares(dash: Dash) -> None:
    """K via the dashboard: `crmcal.sync.autocreate.create_records_for_addresses` (issue 11)."""
    set_org(dash, create_record_by=CreateRecordBy.EVERYONE)  # issue 19: reps may, by policy
    w = dash.world
    item = w.meeting(ALICE, "First meeting", ("jo.doe@brand-new.example",))
    w.set_categories(ALICE, item.id, (cat.SALESFORCE,))
    w.sync(ALICE)
    with dash.api(ALICE) as alice:
        [issue] = alice.get("/api/v1/issues").json()
        res = alice.post(f"/api/v1/issues/{issue['id']}/actions", json={"action": "create_record"})
    assert res.status_code == 200, res.text
    assert res.json()["resolved"] is True and len(res.json()["detail"]["created"]) == 1
    [ev] = w.events()
    assert ev.who_id == res.json()["detail"]["created"][0]


def test_a1_settings_changed_in_the_dashboard_reach_the_runner(dash: Dash) -> None:
    """A1 through a user-settings override; invalid org values are refused per field."""
    w = dash.world
    w.meeting(ALICE, "Weekly with Pat", (EXT,))
    _records(dash)
    with dash.browser_client() as c:
        sign_in(c, ALICE, "alice-pass")
        token = csrf_of(c, "/settings")
        form = {"csrf": token, "user": ALICE, "autoshare_meetings": "on", "direction": "both",
                "safe_description": "", "blocklist.addresses": "", "blocklist.domains": ""}  # fmt: skip
        r = c.post("/settings", data=form)
        assert r.status_code == 303
        assert "autoshare meetings" in c.get("/settings").text
    w.sync(ALICE)
    assert len(w.events()) == 1  # auto-shared now
    with dash.browser_client() as c:
        sign_in(c, "admin", "admin-pass")
        token = csrf_of(c, "/admin/org")
        page = c.post("/admin/org", data={"csrf": token, "window_past_days": "-3"})
        assert page.status_code == 200 and "not valid" in page.text
        assert "greater than or equal to 0" in page.text
        assert c.get("/admin/org").status_code == 200
        page = c.post(
            "/admin/org",
            data={"csrf": token, "window_past_days": "7", "window_future_days": "60",
                  "mass_delete_guard": "25", "max_all_day_hours": "24", "recurrence_format": "classic",
                  "autocreate": "off", "interval_minutes": "5", "api_reserve_percent": "20",
                  "unhealthy_after_failures": "10", "autocreate_opportunity_close_days": "30",
                  "autocreate_opportunity_stage": "Prospecting", "internal_domains": "contoso.example",
                  "block_free_mail_domains": "on", "safe_description": "on",
                  "description_participants_header": "on", "sync_salesforce_calendar": "on",
                  "backfill_on_enable": "on", "autocreate_account": "on", "confirmed": "yes"},
        )  # fmt: skip
        assert page.status_code == 303, page.text
    cfg = dash.web.service.cfg
    assert cfg.org.window_past_days == 7 and cfg.org.mass_delete_guard == 25
    assert cfg.org.internal_domains == ("contoso.example",)


def test_p3_sibling_events_listed(dash: Dash) -> None:
    """P3: an external organizer; alice and bob each share: two Events, same GUID."""
    r = _records(dash)
    w = dash.world
    guid = "040000008200E00074C5B7101A82E008000000000000000000000000000000000001"
    for mb in (ALICE, BOB):
        rec = w.invitation(mb, EXT, "Fabrikam QBR", (ALICE, BOB), guid)
        iid = rec.id if hasattr(rec, "id") else w.copy_of(mb, rec)
        w.respond(mb, iid, "accepted")
        w.set_categories(mb, iid, (cat.SALESFORCE,))
    w.sync()
    assert len(w.events()) == 2
    with dash.api("admin") as admin:
        [g] = admin.get("/api/v1/siblings").json()
    assert len(g["events"]) == 2 and {e["owner"] for e in g["events"]} == {ALICE, BOB}
    with dash.api(ALICE) as alice:
        assert len(alice.get("/api/v1/siblings").json()) == 1
    assert r


def test_o1_m2_save_on_a_paused_users_linked_item_waits_for_resume(dash: Dash) -> None:
    """O1 (review finding): while a user is paused, no targeted run writes to Salesforce (not
    Save, not a webhook); the change is made by the first session after resuming."""
    r = _records(dash)
    w = dash.world
    item = w.meeting(ALICE, "Paused kick-off", (EXT,))
    with dash.api(ALICE) as alice:
        alice.post("/api/v1/save", json={"item_id": item.id})
        w.sync(ALICE)
        [ev] = w.events()
        alice.post(f"/api/v1/users/{ALICE}/pause", json={"paused": True})
        resp = alice.post("/api/v1/save", json={"item_id": item.id, "who_id": r["obrien"]})
        assert resp.status_code == 200 and resp.json()["status"] == "queued", resp.text
        assert w.events()[0].who_id == ev.who_id  # nothing written while paused
        alice.post(f"/api/v1/users/{ALICE}/pause", json={"paused": False})
    w.sync(ALICE)
    assert w.events()[0].who_id == r["obrien"]


def test_x7_i1_confirm_delete_carries_out_the_held_deletions(dash: Dash) -> None:
    """X7 from the dashboard: the guard's issue offers Confirm delete; confirming runs the
    session that carries the held deletions out and closes the issue. Other issues can't be
    confirmed."""
    _records(dash)
    w = dash.world
    recs = [w.meeting(ALICE, f"Bulk {i}", (EXT,), days=1 + i) for i in range(4)]
    for rec in recs:
        w.set_categories(ALICE, rec.id, (cat.SALESFORCE,))
    w.sync(ALICE)
    assert len(w.events()) == 4
    for rec in recs[:3]:  # more than half of Alice's linked Events: the guard holds them
        w.sb.graph.delete_event(ALICE, rec.id)
    w.sync(ALICE)
    assert len(w.events()) == 4
    with dash.api(ALICE) as alice:
        [issue] = alice.get("/api/v1/issues").json()
        assert issue["reason"] == "mass_delete_guard"
        assert issue["actions"] == ["confirm_delete", "dismiss"]
        res = alice.post(
            f"/api/v1/issues/{issue['id']}/actions", json={"action": "confirm_delete"}
        ).json()
        assert res["resolved"] is True, res
        assert res["detail"]["deleted"] == 3
        assert alice.get("/api/v1/issues").json() == []
    assert [e.subject for e in w.events()] == ["Bulk 3"]
    other = w.meeting(ALICE, "Stranger", ("who@unknown-co.example",))
    w.set_categories(ALICE, other.id, (cat.SALESFORCE,))
    w.sync(ALICE)
    with dash.api(ALICE) as alice:
        [issue] = alice.get("/api/v1/issues").json()
        bad = alice.post(f"/api/v1/issues/{issue['id']}/actions", json={"action": "confirm_delete"})
        assert bad.status_code == 422, bad.text
