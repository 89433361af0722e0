"""Issue 19: the org overview (admins), and the Issues page's filters, bulk Retry/Dismiss, undo,
the Dismissed view, and actions offered only where they can help (I1)."""

from __future__ import annotations

import re

from crmcal.state.models import SessionRow, SessionStatus, utcnow
from tests.web._support import ALICE, BOB, Dash, csrf_of, sign_in


def _issues(d: Dash) -> dict[str, int]:
    s = d.store
    return {
        "long": s.raise_issue(
            mailbox=ALICE, reason="not_synced", item_id="A1", subject="Offsite week",
            message="Not synced: all-day event longer than 24 hours", actions=["retry", "dismiss"],
        ),
        "wait": s.raise_issue(
            mailbox=ALICE, reason="unresolved_participants", item_id="A2", subject="Pitch",
            message="Unresolved participants: " + "averyveryverylongaddress" * 4 + "@x.example",
            actions=["retry", "dismiss"],
        ),
        "bob": s.raise_issue(
            mailbox=BOB, reason="unresolved_participants", item_id="B1", subject="Bob's call",
            message="Unresolved participants: y@z.example", actions=["retry", "dismiss"],
        ),
    }  # fmt: skip


def _cards(html: str) -> list[str]:
    return re.findall(r'data-issue="(\d+)"', html)


def test_i1_issue_filters_by_reason_and_user(dash: Dash) -> None:
    ids = _issues(dash)
    with dash.browser_client() as c:
        sign_in(c, "admin", "admin-pass")
        page = c.get("/issues").text
        assert set(_cards(page)) == {str(i) for i in ids.values()}
        assert 'data-reason="unresolved_participants"' in page and "By user:" in page
        page = c.get("/issues", params={"reason": "unresolved_participants"}).text
        assert set(_cards(page)) == {str(ids["wait"]), str(ids["bob"])}
        page = c.get("/issues", params={"reason": "unresolved_participants", "user": BOB}).text
        assert _cards(page) == [str(ids["bob"])]


def test_i1_no_retry_where_it_cannot_help_and_words_instead(dash: Dash) -> None:
    ids = _issues(dash)
    with dash.browser_client() as c:
        sign_in(c, ALICE, "alice-pass")
        page = c.get("/issues").text
    card = page.split(f'data-issue="{ids["long"]}"', 1)[1].split("</li>", 1)[0]
    assert 'value="retry"' not in card and 'value="dismiss"' in card
    assert "Shorten the event in Outlook" in card
    other = page.split(f'data-issue="{ids["wait"]}"', 1)[1].split("</li>", 1)[0]
    assert 'value="retry"' in other and 'class="wrap"' in other  # the long address wraps


def test_i1_bulk_dismiss_with_undo_and_the_dismissed_view(dash: Dash) -> None:
    ids = _issues(dash)
    with dash.browser_client() as c:
        sign_in(c, ALICE, "alice-pass")
        token = csrf_of(c)
        r = c.post(
            "/issues/bulk",
            data={"csrf": token, "action": "dismiss", "back": "/issues",
                  "ids": [str(ids["long"]), str(ids["wait"]), str(ids["bob"])]},
        )  # fmt: skip
        assert r.status_code == 303
        page = c.get("/issues").text
        assert "Dismissed 2 issues. 1 could not be dismissed." in page  # bob's is not hers (Y2)
        assert _cards(page) == [] and 'id="undo"' in page
        assert {i.id for i in dash.store.open_issues(BOB)} == {ids["bob"]}
        gone = c.get("/issues", params={"view": "dismissed"}).text
        assert set(_cards(gone)) == {str(ids["long"]), str(ids["wait"])}
        undo = dict(re.findall(r'name="(csrf|back)" value="([^"]*)"', page))
        undo_ids = re.findall(r'<input type="hidden" name="ids" value="(\d+)">', page)
        r = c.post("/issues/undo", data={**undo, "ids": undo_ids})
        assert r.status_code == 303
        assert set(_cards(c.get("/issues").text)) == {str(ids["long"]), str(ids["wait"])}
        # restore from the Dismissed view, one at a time
        c.post("/issues/bulk", data={"csrf": token, "action": "dismiss", "ids": [str(ids["long"])]})
        c.post("/issues/undo", data={"csrf": token, "ids": [str(ids["long"])]})
        assert str(ids["long"]) in _cards(c.get("/issues").text)
        # bob's issue cannot be brought back (or touched) by alice
        c.post("/issues/undo", data={"csrf": token, "ids": [str(ids["bob"])]})


def test_i1_bulk_retry(dash: Dash) -> None:
    ids = _issues(dash)
    with dash.browser_client() as c:
        sign_in(c, "admin", "admin-pass")
        r = c.post(
            "/issues/bulk",
            data={"csrf": csrf_of(c), "action": "retry", "ids": [str(ids["wait"])]},
        )
        assert r.status_code == 303
        assert "Retried 1 issue." in c.get("/issues").text


def test_overview_shows_the_org_at_a_glance(dash: Dash) -> None:
    _issues(dash)
    w = dash.world
    w.sb.salesforce.add_contact("Pat", email="pat@fabrikam.example")
    w.meeting(ALICE, "Weekly", ("pat@fabrikam.example",))
    w.sync()
    dash.store.record_outcome(BOB, ok=False, unhealthy_after=10, reason="token expired")
    with dash.store.session() as ss:  # the session that failed, as the runner records it
        ss.add(SessionRow(mailbox=BOB, status=SessionStatus.FAILED, finished_at=utcnow(),
                          error="Graph refused the token: token expired"))  # fmt: skip
    with dash.browser_client() as c:
        sign_in(c, "admin", "admin-pass")
        assert c.get("/", follow_redirects=False).headers["location"] == "/overview"
        page = c.get("/overview").text
        assert 'id="last-cycle"' in page and "1 session failed" in page
        assert re.search(r"<strong>1</strong><span>users failing</span>", page)
        assert "token expired" in page
        assert "unresolved participants</a> <strong>2</strong>" in page
        assert 'id="allowance"' in page and "calls used today" in page
        assert re.search(r"<strong>\d+</strong><span>Events created</span>", page)
    with dash.browser_client() as c:
        sign_in(c, ALICE, "alice-pass")
        assert c.get("/overview").status_code == 403
        assert c.get("/", follow_redirects=False).headers["location"] == "/issues"


def test_settings_changes_are_audited(dash: Dash) -> None:
    """Who changed which setting when, shown on the settings pages."""
    from crmcal.state.overrides import audit_log
    from tests.web._support import set_org

    set_org(dash, mass_delete_guard=33)
    [row] = audit_log(dash.store, "org")
    assert (row.actor, row.key, row.old, row.new) == ("admin", "mass_delete_guard", 20, 33)
    set_org(dash, mass_delete_guard=33)  # no change, no entry
    assert len(audit_log(dash.store, "org")) == 1
    with dash.browser_client() as c:
        sign_in(c, "admin", "admin-pass")
        page = c.get("/admin/org").text
        assert 'id="audit"' in page and "mass_delete_guard" in page
        c.post("/admin/accounts", data={"csrf": csrf_of(c), "username": "ops",
                                        "password": "ops-password-1", "is_admin": "true"})  # fmt: skip
    assert audit_log(dash.store, "accounts")[0].key == "ops"


def test_i2_session_detail_page_lists_what_it_wrote(dash: Dash) -> None:
    w = dash.world
    w.sb.salesforce.add_contact("Pat", email="pat@fabrikam.example")
    item = w.meeting(ALICE, "Weekly with Pat", ("pat@fabrikam.example",))
    from crmcal.rules import categories as cat

    w.set_categories(ALICE, item.id, (cat.SALESFORCE,))
    w.sync(ALICE)
    [ev] = w.events()
    sid = next(s.id for s in dash.sessions(ALICE) if (s.stats or {}).get("created"))
    with dash.browser_client() as c:
        sign_in(c, ALICE, "alice-pass")
        assert f'href="/sessions/{sid}"' in c.get("/sessions").text
        page = c.get(f"/sessions/{sid}").text
        assert 'id="writes"' in page and ev.id in page and "/lightning/r/Event/" in page
        assert c.get("/sessions/999999").status_code == 404
    with dash.browser_client() as c:  # bob may not see alice's session (Y2)
        sign_in(c, BOB, "bob-pass")
        assert c.get(f"/sessions/{sid}").status_code == 404


def test_calendar_by_day_in_the_viewers_zone(dash: Dash) -> None:
    """Items grouped by day in the viewer's zone (a setting per dashboard account); all-day items
    as dates; a clear message when Outlook does not answer."""
    from datetime import UTC, datetime, timedelta

    w = dash.world
    now = datetime.now(UTC)
    late = (now + timedelta(days=3)).replace(hour=23, minute=30, second=0, microsecond=0)
    fmt = "%Y-%m-%dT%H:%M:%S"
    w.meeting(
        ALICE, "Late call", ("x@elsewhere.example",),
        start={"dateTime": late.strftime(fmt), "timeZone": "UTC"},
        end={"dateTime": (late + timedelta(minutes=30)).strftime(fmt), "timeZone": "UTC"},
    )  # fmt: skip
    with dash.browser_client() as c:
        sign_in(c, ALICE, "alice-pass")
        page = c.get("/calendar").text
        assert f'data-day="{late.date().isoformat()}"' in page and "23:30" in page
        assert "(the mailbox&#39;s)" in page or "(the mailbox's)" in page
        token = csrf_of(c, "/calendar")
        c.post("/account/zone", data={"csrf": token, "zone": "Asia/Tokyo"})  # UTC+9
        page = c.get("/calendar").text
        assert "Shown in Asia/Tokyo." in page
        next_day = (late + timedelta(days=1)).date().isoformat()
        assert f'data-day="{next_day}"' in page and "08:30" in page
        bad = c.post("/account/zone", data={"csrf": token, "zone": "Mars/Olympus"})
        assert bad.status_code == 303 and "not a time zone name" in c.get("/calendar").text
        c.post("/account/zone", data={"csrf": token, "zone": ""})
        assert "Shown in Asia/Tokyo." not in c.get("/calendar").text
