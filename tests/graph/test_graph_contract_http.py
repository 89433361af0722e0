"""Contract tests: plain httpx requests shaped like the documented examples (api-facts A1-A11).

They check what a client no one here wrote would see: paths, JSON shapes, paging, tombstones,
410, 429 with Retry-After, `$batch`, and error bodies.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

from crmcal.sandbox.graph import create_app
from crmcal.sandbox.server import ServerThread
from crmcal.sandbox.tls import process_tls

WINDOW = {"startDateTime": "2026-03-01T00:00:00Z", "endDateTime": "2026-04-01T00:00:00Z"}
LOCAL_DT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}$")
UTC_DTO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")


def assert_error(r: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert err["code"] == code
    assert isinstance(err["message"], str) and err["message"]
    assert {"date", "request-id"} <= set(err["innerError"])
    return err


def test_event_shape_matches_a1_example(sandbox) -> None:
    g = sandbox.http()
    r = g.post(
        f"/users/{sandbox.ANA}/events",
        json=sandbox.event(
            "Quarterly review",
            "2026-03-10T15:00:00",
            "2026-03-10T16:00:00",
            "W. Europe Standard Time",
            location={"displayName": "Room 4"},
            attendees=[
                {
                    "type": "required",
                    "emailAddress": {"address": "ext@fabrikam.example", "name": "Ext"},
                }
            ],
            categories=["Blue category"],
        ),
    )
    assert r.status_code == 201, r.text
    ev = r.json()
    a1_keys = {
        "@odata.etag",
        "id",
        "iCalUId",
        "changeKey",
        "createdDateTime",
        "lastModifiedDateTime",
        "subject",
        "body",
        "bodyPreview",
        "start",
        "end",
        "originalStartTimeZone",
        "originalEndTimeZone",
        "isAllDay",
        "isCancelled",
        "isOrganizer",
        "showAs",
        "sensitivity",
        "importance",
        "type",
        "seriesMasterId",
        "recurrence",
        "location",
        "locations",
        "organizer",
        "attendees",
        "responseStatus",
        "categories",
        "hasAttachments",
        "webLink",
    }
    assert a1_keys <= set(ev)
    # UTC without offset, seven fractional digits; original zone as a Windows name
    assert ev["start"] == {"dateTime": "2026-03-10T14:00:00.0000000", "timeZone": "UTC"}
    assert LOCAL_DT.match(ev["end"]["dateTime"])
    assert UTC_DTO.match(ev["createdDateTime"])
    assert ev["originalStartTimeZone"] == "W. Europe Standard Time"
    assert (
        ev["type"] == "singleInstance" and ev["seriesMasterId"] is None and ev["recurrence"] is None
    )
    assert ev["@odata.etag"] == f'W/"{ev["changeKey"]}"'
    assert ev["id"].startswith("AAMkA") and len(ev["id"]) > 60
    assert ev["iCalUId"].startswith("040000008200E00074C5B7101A82E008")
    assert ev["webLink"].startswith("https://outlook.office365.com/owa/?itemid=")
    assert ev["responseStatus"] == {"response": "organizer", "time": "0001-01-01T00:00:00Z"}
    assert ev["attendees"][0]["status"] == {"response": "none", "time": "0001-01-01T00:00:00Z"}
    assert ev["organizer"]["emailAddress"] == {"name": "Ana Ruiz", "address": sandbox.ANA}
    assert ev["body"]["contentType"] == "html" and ev["bodyPreview"] == "Quarterly review"
    assert ev["location"]["displayName"] == "Room 4"


def test_patch_changes_change_key_and_etag_delete_then_404(sandbox) -> None:
    g = sandbox.http()
    ev = g.post(
        f"/users/{sandbox.ANA}/events",
        json=sandbox.event("a", "2026-03-10T10:00:00", "2026-03-10T11:00:00"),
    ).json()
    r = g.patch(f"/users/{sandbox.ANA}/events/{ev['id']}", json={"subject": "b"})
    assert r.status_code == 200
    upd = r.json()
    assert upd["subject"] == "b" and upd["changeKey"] != ev["changeKey"]
    assert upd["@odata.etag"] != ev["@odata.etag"] and upd["start"] == ev["start"]
    # also reachable under /calendar/events
    assert g.get(f"/users/{sandbox.ANA}/calendar/events/{ev['id']}").json()["subject"] == "b"
    assert g.delete(f"/users/{sandbox.ANA}/events/{ev['id']}").status_code == 204
    err = assert_error(g.get(f"/users/{sandbox.ANA}/events/{ev['id']}"), 404, "ErrorItemNotFound")
    assert err["message"] == "The specified object was not found in the store."


def test_error_bodies_for_bad_requests(sandbox) -> None:
    g = sandbox.http()
    assert_error(g.get(f"/users/{sandbox.ANA}/events/not-an-id"), 400, "ErrorInvalidIdMalformed")
    assert_error(g.get("/users/nobody@contoso.example/events"), 404, "ErrorInvalidUser")
    assert_error(
        g.post(
            f"/users/{sandbox.ANA}/events",
            json={**sandbox.event("x", "2026-03-10T10:00:00", "2026-03-10T11:00:00"), "colour": 1},
        ),
        400,
        "RequestBodyRead",
    )
    assert_error(
        g.post(
            f"/users/{sandbox.ANA}/events",
            json=sandbox.event("x", "2026-03-10T10:00:00", "2026-03-10T11:00:00", "Mars/Olympus"),
        ),
        400,
        "TimeZoneNotSupportedException",
    )
    assert_error(
        g.post(
            f"/users/{sandbox.ANA}/events",
            json=sandbox.event("x", "2026-03-10T12:00:00", "2026-03-10T11:00:00"),
        ),
        400,
        "ErrorCalendarEndDateIsEarlierThanStartDate",
    )
    assert_error(g.get(f"/users/{sandbox.ANA}/calendarView"), 400, "ErrorInvalidParameter")
    assert_error(
        g.post(
            f"/users/{sandbox.ANA}/events",
            json={
                **sandbox.event("x", "2026-03-10T10:00:00", "2026-03-10T11:00:00"),
                "showAs": "sleepy",
            },
        ),
        400,
        "RequestBodyRead",
    )


def test_token_checked_on_every_call(sandbox) -> None:
    plain = httpx.Client(base_url=sandbox.graph_url)
    err = assert_error(plain.get(f"/users/{sandbox.ANA}/events"), 401, "InvalidAuthenticationToken")
    assert "empty" in str(err["message"])
    g = sandbox.http()
    assert g.get(f"/users/{sandbox.ANA}/events").status_code == 200
    sandbox.state.expire_tokens()
    assert_error(g.get(f"/users/{sandbox.ANA}/events"), 401, "InvalidAuthenticationToken")


def test_token_endpoint_errors_look_like_entra(sandbox) -> None:
    url = f"{sandbox.url}/{sandbox.state.tenant_id}/oauth2/v2.0/token"
    form = {
        "client_id": sandbox.state.client_id,
        "client_secret": "wrong",
        "scope": "https://graph.microsoft.com/.default",
        "grant_type": "client_credentials",
    }
    r = httpx.post(url, data=form)
    assert r.status_code == 401
    body = r.json()
    assert body["error"] == "invalid_client" and body["error_description"].startswith(
        "AADSTS7000215"
    )
    assert {"error_codes", "timestamp", "trace_id", "correlation_id"} <= set(body)
    r = httpx.post(
        url, data={**form, "client_secret": sandbox.state.client_secret, "scope": "Calendars.Read"}
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
    ok = httpx.post(url, data={**form, "client_secret": sandbox.state.client_secret}).json()
    assert (
        ok["token_type"] == "Bearer"
        and ok["expires_in"] == 3599
        and ok["access_token"].count(".") == 2
    )


def test_calendar_view_default_page_of_10_and_maxpagesize(sandbox) -> None:
    for i in range(23):
        sandbox.state.seed_event(
            sandbox.ANA,
            sandbox.event(
                f"e{i}", f"2026-03-{i + 2:02d}T09:00:00", f"2026-03-{i + 2:02d}T10:00:00"
            ),
        )
    g = sandbox.http()
    r = g.get(f"/users/{sandbox.ANA}/calendarView", params=WINDOW)
    body = r.json()
    assert len(body["value"]) == 10 and "@odata.nextLink" in body
    assert body["@odata.context"].endswith("/calendarView")
    subjects = [e["subject"] for e in body["value"]]
    url = body["@odata.nextLink"]
    while url:
        page = g.get(url).json()
        subjects += [e["subject"] for e in page["value"]]
        url = page.get("@odata.nextLink")
    assert subjects == [f"e{i}" for i in range(23)]
    r = g.get(
        f"/users/{sandbox.ANA}/calendarView",
        params=WINDOW,
        headers={"Prefer": "odata.maxpagesize=50"},
    )
    assert len(r.json()["value"]) == 23 and "@odata.nextLink" not in r.json()
    assert "odata.maxpagesize=50" in r.headers["Preference-Applied"]


def test_prefer_outlook_timezone(sandbox) -> None:
    sandbox.state.seed_event(
        sandbox.ANA, sandbox.event("tz", "2026-03-10T14:00:00", "2026-03-10T15:00:00")
    )
    g = sandbox.http()
    ev = g.get(
        f"/users/{sandbox.ANA}/calendarView",
        params=WINDOW,
        headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'},
    ).json()["value"][0]
    assert ev["start"] == {
        "dateTime": "2026-03-10T07:00:00.0000000",
        "timeZone": "Pacific Standard Time",
    }
    # window bounds are not affected by the header, and an offset in them is honoured
    r = g.get(
        f"/users/{sandbox.ANA}/calendarView",
        params={
            "startDateTime": "2026-03-10T15:30:00+01:00",
            "endDateTime": "2026-03-10T16:00:00+01:00",
        },
    )
    assert [e["subject"] for e in r.json()["value"]] == ["tz"]


def _weekly_master(sandbox) -> dict[str, object]:
    body = sandbox.event(
        "Weekly sync",
        "2026-03-02T09:00:00",
        "2026-03-02T09:30:00",
        "Eastern Standard Time",
        recurrence={
            "pattern": {
                "type": "weekly",
                "interval": 1,
                "daysOfWeek": ["monday", "wednesday"],
                "firstDayOfWeek": "sunday",
            },
            "range": {"type": "noEnd", "startDate": "2026-03-02"},
        },
    )
    r = sandbox.http().post(f"/users/{sandbox.ANA}/events", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_series_read_placeholders_and_expansion(sandbox) -> None:
    master = _weekly_master(sandbox)
    assert master["type"] == "seriesMaster"
    rec = master["recurrence"]
    assert (
        rec["pattern"]["month"] == 0
        and rec["pattern"]["dayOfMonth"] == 0
        and rec["pattern"]["index"] == "first"
    )
    assert rec["range"]["endDate"] == "0001-01-01" and rec["range"]["numberOfOccurrences"] == 0
    assert rec["range"]["recurrenceTimeZone"] == "Eastern Standard Time"
    g = sandbox.http()
    # /events lists the master, not occurrences
    listed = g.get(f"/users/{sandbox.ANA}/events").json()["value"]
    assert [e["type"] for e in listed] == ["seriesMaster"]
    view = g.get(
        f"/users/{sandbox.ANA}/calendarView",
        params={"startDateTime": "2026-03-01T00:00:00Z", "endDateTime": "2026-03-15T00:00:00Z"},
    ).json()["value"]
    assert [e["type"] for e in view] == ["occurrence"] * 4
    # 9:00 New York: EST (UTC-5) on 2 and 4 March, EDT (UTC-4) after 8 March
    assert [e["start"]["dateTime"][:16] for e in view] == [
        "2026-03-02T14:00",
        "2026-03-04T14:00",
        "2026-03-09T13:00",
        "2026-03-11T13:00",
    ]
    assert len({e["iCalUId"] for e in view}) == 4 and len({e["id"] for e in view}) == 4
    assert all(e["seriesMasterId"] == master["id"] and e["recurrence"] is None for e in view)
    assert view[0]["originalStart"] == "2026-03-02T14:00:00.0000000Z"


def test_instances_exception_and_cancelled_occurrence(sandbox) -> None:
    master = _weekly_master(sandbox)
    g = sandbox.http()
    win = {"startDateTime": "2026-03-01T00:00:00Z", "endDateTime": "2026-03-15T00:00:00Z"}
    occ = g.get(f"/users/{sandbox.ANA}/events/{master['id']}/instances", params=win).json()["value"]
    assert len(occ) == 4
    r = g.patch(
        f"/users/{sandbox.ANA}/events/{occ[1]['id']}",
        json={
            "subject": "Moved",
            "start": {"dateTime": "2026-03-04T11:00:00", "timeZone": "Eastern Standard Time"},
            "end": {"dateTime": "2026-03-04T11:30:00", "timeZone": "Eastern Standard Time"},
        },
    )
    assert r.status_code == 200 and r.json()["type"] == "exception"
    assert_error(
        g.patch(
            f"/users/{sandbox.ANA}/events/{occ[2]['id']}",
            json={
                "start": {"dateTime": "2026-03-11T09:00:00", "timeZone": "Eastern Standard Time"},
                "end": {"dateTime": "2026-03-11T09:30:00", "timeZone": "Eastern Standard Time"},
            },
        ),
        400,
        "ErrorOccurrenceCrossingBoundary",
    )
    assert g.delete(f"/users/{sandbox.ANA}/events/{occ[3]['id']}").status_code == 204
    after = g.get(f"/users/{sandbox.ANA}/events/{master['id']}/instances", params=win).json()[
        "value"
    ]
    assert [(e["type"], e["subject"]) for e in after] == [
        ("occurrence", "Weekly sync"),
        ("exception", "Moved"),
        ("occurrence", "Weekly sync"),
    ]
    assert after[1]["originalStart"] == "2026-03-04T14:00:00.0000000Z"
    assert after[1]["start"]["dateTime"].startswith("2026-03-04T16:00")


def _delta_round(
    g: httpx.Client, url: str, params: dict[str, str] | None = None, size: int | None = None
) -> tuple[list[dict], str, int]:
    headers = {"Prefer": f"odata.maxpagesize={size}"} if size else {}
    entries: list[dict] = []
    calls = 0
    while True:
        r = g.get(url, params=params, headers=headers)
        calls += 1
        assert r.status_code == 200, r.text
        body = r.json()
        entries += body["value"]
        params = None
        if "@odata.nextLink" in body:
            assert "$skiptoken=" in body["@odata.nextLink"]
            url = body["@odata.nextLink"]
            continue
        assert "$deltatoken=" in body["@odata.deltaLink"]
        return entries, body["@odata.deltaLink"], calls


def test_delta_round_trip_with_tombstones(sandbox) -> None:
    st = sandbox.state
    keep = st.seed_event(
        sandbox.ANA, sandbox.event("keep", "2026-03-05T10:00:00", "2026-03-05T11:00:00")
    )
    gone = st.seed_event(
        sandbox.ANA, sandbox.event("gone", "2026-03-06T10:00:00", "2026-03-06T11:00:00")
    )
    leaves = st.seed_event(
        sandbox.ANA, sandbox.event("leaves", "2026-03-07T10:00:00", "2026-03-07T11:00:00")
    )
    outside = st.seed_event(
        sandbox.ANA, sandbox.event("outside", "2026-06-07T10:00:00", "2026-06-07T11:00:00")
    )
    for i in range(12):
        st.seed_event(
            sandbox.ANA, sandbox.event(f"f{i}", "2026-03-20T10:00:00", "2026-03-20T11:00:00")
        )
    g = sandbox.http()
    entries, link, calls = _delta_round(g, f"/users/{sandbox.ANA}/calendarView/delta", WINDOW)
    assert calls == 2  # default page size 10, 15 items
    assert len(entries) == 15 and all("@removed" not in e for e in entries)
    assert outside.id not in {e["id"] for e in entries}
    # no change: one call, empty
    entries, link, calls = _delta_round(g, link)
    assert (entries, calls) == ([], 1)
    g.patch(f"/users/{sandbox.ANA}/events/{keep.id}", json={"subject": "kept"})
    g.delete(f"/users/{sandbox.ANA}/events/{gone.id}")
    g.patch(
        f"/users/{sandbox.ANA}/events/{leaves.id}",
        json={
            "start": {"dateTime": "2026-05-07T10:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-05-07T11:00:00", "timeZone": "UTC"},
        },
    )
    g.patch(f"/users/{sandbox.ANA}/events/{outside.id}", json={"subject": "still outside"})
    entries, link, _ = _delta_round(g, link)
    changed = {e["id"]: e for e in entries if "@removed" not in e}
    removed = {e["id"]: e for e in entries if "@removed" in e}
    assert set(changed) == {keep.id} and changed[keep.id]["subject"] == "kept"
    # deleted, left the window, and (as the real service does) changed outside the window
    assert set(removed) == {gone.id, leaves.id, outside.id}
    assert removed[gone.id] == {
        "@odata.type": "#microsoft.graph.event",
        "id": gone.id,
        "@removed": {"reason": "deleted"},
    }


def test_delta_rejects_unsupported_query_options(sandbox) -> None:
    g = sandbox.http()
    r = g.get(f"/users/{sandbox.ANA}/calendarView/delta", params={**WINDOW, "$select": "subject"})
    assert_error(r, 400, "ErrorInvalidUrlQuery")


def test_O3_expired_delta_token_gives_410(sandbox) -> None:
    g = sandbox.http()
    _, link, _ = _delta_round(g, f"/users/{sandbox.ANA}/calendarView/delta", WINDOW)
    sandbox.state.expire_delta_tokens()
    err = assert_error(g.get(link), 410, "SyncStateNotFound")
    assert "sync state" in str(err["message"]).lower()
    assert_error(
        g.get(f"/users/{sandbox.ANA}/calendarView/delta?$deltatoken=bogus"),
        410,
        "SyncStateNotFound",
    )


def test_O3_throttling_429_with_fractional_retry_after(sandbox) -> None:
    sandbox.state.faults.throttle_next = 1
    sandbox.state.faults.retry_after = 2.128
    g = sandbox.http()
    r = g.get(f"/users/{sandbox.ANA}/events")
    err = assert_error(r, 429, "TooManyRequests")
    assert r.headers["Retry-After"] == "2.128"
    assert err["innerError"]["status"] == "429"
    assert g.get(f"/users/{sandbox.ANA}/events").status_code == 200
    # request budget per mailbox
    sandbox.state.faults.rate_limit = 3
    codes = [g.get(f"/users/{sandbox.BO}/events").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    # other mailboxes are not affected
    assert g.get(f"/users/{sandbox.CY}/events").status_code == 200


def test_O3_more_than_four_concurrent_requests_per_mailbox_get_429(sandbox) -> None:
    sandbox.state.faults.latency_ms = 300
    token = sandbox.token()
    barrier = threading.Barrier(8)

    def one(_: int) -> httpx.Response:
        with httpx.Client(
            base_url=sandbox.graph_url, headers={"Authorization": "Bearer " + token}
        ) as c:
            barrier.wait()
            return c.get(f"/users/{sandbox.ANA}/events")

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(8)))
    codes = sorted(r.status_code for r in results)
    assert codes.count(200) == 4 and codes.count(429) == 4
    throttled = [r for r in results if r.status_code == 429]
    assert all(r.json()["error"]["code"] == "ApplicationThrottled" for r in throttled)
    assert all(float(r.headers["Retry-After"]) > 0 for r in throttled)


def test_batch_statuses_depends_on_and_limits(sandbox) -> None:
    g = sandbox.http()
    ev = g.post(
        f"/users/{sandbox.ANA}/events",
        json=sandbox.event("a", "2026-03-10T10:00:00", "2026-03-10T11:00:00"),
    ).json()
    reqs = [
        {"id": "1", "method": "GET", "url": f"/users/{sandbox.ANA}/events/{ev['id']}"},
        {
            "id": "2",
            "method": "PATCH",
            "url": f"/users/{sandbox.ANA}/events/{ev['id']}",
            "headers": {"Content-Type": "application/json"},
            "body": {"subject": "b"},
            "dependsOn": ["1"],
        },
        {
            "id": "3",
            "method": "GET",
            "url": f"/users/{sandbox.ANA}/events/AAMkAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        },
        {
            "id": "4",
            "method": "DELETE",
            "url": f"/users/{sandbox.ANA}/events/{ev['id']}",
            "dependsOn": ["3"],
        },
    ]
    r = g.post("/$batch", json={"requests": reqs})
    assert r.status_code == 200
    by_id = {x["id"]: x for x in r.json()["responses"]}
    assert {k: v["status"] for k, v in by_id.items()} == {"1": 200, "2": 200, "3": 404, "4": 424}
    assert by_id["2"]["body"]["subject"] == "b"
    assert by_id["3"]["body"]["error"]["code"] == "ErrorItemNotFound"
    too_many = [
        {"id": str(i), "method": "GET", "url": f"/users/{sandbox.ANA}/events"} for i in range(21)
    ]
    assert_error(g.post("/$batch", json={"requests": too_many}), 400, "BadRequest")
    dup = [{"id": "1", "method": "GET", "url": "/users/x/events"}] * 2
    assert g.post("/$batch", json={"requests": dup}).status_code == 400
    no_ct = [
        {
            "id": "1",
            "method": "PATCH",
            "url": f"/users/{sandbox.ANA}/events/{ev['id']}",
            "body": {"subject": "c"},
        }
    ]
    assert g.post("/$batch", json={"requests": no_ct}).json()["responses"][0]["status"] == 400


def test_batch_inner_429_has_its_own_retry_after(sandbox) -> None:
    g = sandbox.http()
    sandbox.state.faults.rate_limit = 2
    reqs = [
        {"id": str(i), "method": "GET", "url": f"/users/{sandbox.ANA}/events"} for i in range(4)
    ]
    r = g.post("/$batch", json={"requests": reqs})
    assert r.status_code == 200
    statuses = sorted(x["status"] for x in r.json()["responses"])
    assert statuses == [200, 200, 429, 429]
    throttled = [x for x in r.json()["responses"] if x["status"] == 429]
    assert all(float(x["headers"]["Retry-After"]) > 0 for x in throttled)
    assert all(x["body"]["error"]["code"] == "TooManyRequests" for x in throttled)


def test_master_categories_and_presets(sandbox) -> None:
    g = sandbox.http()
    r = g.post(
        f"/users/{sandbox.ANA}/outlook/masterCategories",
        json={"displayName": "Salesforce", "color": "preset7"},
    )
    assert r.status_code == 201 and r.json()["color"] == "preset7" and r.json()["id"]
    assert (
        g.post(
            f"/users/{sandbox.ANA}/outlook/masterCategories",
            json={"displayName": "salesforce", "color": "preset0"},
        ).status_code
        == 409
    )
    assert_error(
        g.post(
            f"/users/{sandbox.ANA}/outlook/masterCategories",
            json={"displayName": "X", "color": "preset25"},
        ),
        400,
        "RequestBodyRead",
    )
    cid = r.json()["id"]
    assert (
        g.patch(
            f"/users/{sandbox.ANA}/outlook/masterCategories/{cid}", json={"color": "preset0"}
        ).json()["color"]
        == "preset0"
    )
    assert (
        g.patch(
            f"/users/{sandbox.ANA}/outlook/masterCategories/{cid}", json={"displayName": "Other"}
        ).status_code
        == 400
    )
    listed = g.get(f"/users/{sandbox.ANA}/outlook/masterCategories").json()["value"]
    assert [c["displayName"] for c in listed] == ["Salesforce"]
    assert g.delete(f"/users/{sandbox.ANA}/outlook/masterCategories/{cid}").status_code == 204


def test_single_value_extended_property_expand_and_filter(sandbox) -> None:
    prop = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name SfEventId"
    g = sandbox.http()
    ev = g.post(
        f"/users/{sandbox.ANA}/events",
        json=sandbox.event(
            "x",
            "2026-03-10T10:00:00",
            "2026-03-10T11:00:00",
            singleValueExtendedProperties=[{"id": prop, "value": "00U5g00000AbCdEEAZ"}],
        ),
    ).json()
    assert "singleValueExtendedProperties" not in ev  # only via $expand
    got = g.get(
        f"/users/{sandbox.ANA}/events/{ev['id']}",
        params={"$expand": f"singleValueExtendedProperties($filter=id eq '{prop}')"},
    ).json()
    assert got["singleValueExtendedProperties"] == [{"id": prop, "value": "00U5g00000AbCdEEAZ"}]
    flt = f"singleValueExtendedProperties/Any(ep: ep/id eq '{prop}' and ep/value eq '00U5g00000AbCdEEAZ')"
    found = g.get(f"/users/{sandbox.ANA}/events", params={"$filter": flt}).json()["value"]
    assert [e["id"] for e in found] == [ev["id"]]
    other = (
        "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name sfeventid"  # the name is case-sensitive
    )
    none = g.get(
        f"/users/{sandbox.ANA}/events/{ev['id']}",
        params={"$expand": f"singleValueExtendedProperties($filter=id eq '{other}')"},
    ).json()
    assert "singleValueExtendedProperties" not in none


def test_meeting_copies_responses_and_cancel_across_mailboxes(sandbox) -> None:
    g = sandbox.http()
    body = sandbox.event(
        "Pipeline review",
        "2026-03-12T10:00:00",
        "2026-03-12T11:00:00",
        attendees=[
            {"type": "required", "emailAddress": {"address": sandbox.BO, "name": "Bo Li"}},
            {
                "type": "optional",
                "emailAddress": {"address": "ext@fabrikam.example", "name": "Ext"},
            },
        ],
    )
    org = g.post(f"/users/{sandbox.ANA}/events", json=body).json()
    copies = g.get(f"/users/{sandbox.BO}/events").json()["value"]
    assert len(copies) == 1
    copy = copies[0]
    assert copy["iCalUId"] == org["iCalUId"] and copy["id"] != org["id"]
    assert copy["isOrganizer"] is False and copy["responseStatus"]["response"] == "notResponded"
    assert copy["organizer"]["emailAddress"]["address"] == sandbox.ANA
    assert g.get(f"/users/{sandbox.CY}/events").json()["value"] == []
    assert (
        g.post(
            f"/users/{sandbox.BO}/events/{copy['id']}/accept",
            json={"comment": "ok", "sendResponse": True},
        ).status_code
        == 202
    )
    org_now = g.get(f"/users/{sandbox.ANA}/events/{org['id']}").json()
    assert [a["status"]["response"] for a in org_now["attendees"]] == ["accepted", "none"]
    assert org_now["changeKey"] != org["changeKey"]
    # an attendee can't cancel; the organizer can
    err = assert_error(
        g.post(f"/users/{sandbox.BO}/events/{copy['id']}/cancel", json={"comment": "x"}),
        400,
        "ErrorInvalidRequest",
    )
    assert err["message"] == "You need to be an organizer to cancel a meeting."
    r = g.post(f"/users/{sandbox.ANA}/events/{org['id']}/cancel", json={"comment": "Sorry"})
    assert r.status_code == 202 and r.content == b""
    assert g.get(f"/users/{sandbox.ANA}/events/{org['id']}").status_code == 404
    cancelled = g.get(f"/users/{sandbox.BO}/events/{copy['id']}").json()
    assert cancelled["isCancelled"] is True and cancelled["subject"] == "Canceled: Pipeline review"


def test_propose_new_time_rules(sandbox) -> None:
    g = sandbox.http()
    body = sandbox.event(
        "m",
        "2026-03-12T10:00:00",
        "2026-03-12T11:00:00",
        attendees=[{"emailAddress": {"address": sandbox.BO}}],
        allowNewTimeProposals=False,
    )
    g.post(f"/users/{sandbox.ANA}/events", json=body)
    copy = g.get(f"/users/{sandbox.BO}/events").json()["value"][0]
    proposal = {
        "start": {"dateTime": "2026-03-12T12:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-03-12T13:00:00", "timeZone": "UTC"},
    }
    r = g.post(
        f"/users/{sandbox.BO}/events/{copy['id']}/tentativelyAccept",
        json={"sendResponse": True, "proposedNewTime": proposal},
    )
    assert r.status_code == 400
    assert (
        g.post(
            f"/users/{sandbox.BO}/events/{copy['id']}/tentativelyAccept",
            json={"sendResponse": True},
        ).status_code
        == 202
    )


def test_attachments_small_and_upload_session(sandbox) -> None:
    import base64

    g = sandbox.http()
    ev = g.post(
        f"/users/{sandbox.ANA}/events",
        json=sandbox.event("a", "2026-03-10T10:00:00", "2026-03-10T11:00:00"),
    ).json()
    r = g.post(
        f"/users/{sandbox.ANA}/events/{ev['id']}/attachments",
        json={
            "@odata.type": "#microsoft.graph.fileAttachment",
            "name": "a.txt",
            "contentBytes": base64.b64encode(b"hello").decode(),
        },
    )
    assert r.status_code == 201
    att = r.json()
    assert {
        "id",
        "name",
        "contentType",
        "size",
        "isInline",
        "contentId",
        "contentLocation",
        "lastModifiedDateTime",
        "contentBytes",
    } <= set(att)
    assert att["size"] == 5
    data = bytes(range(256)) * 20000  # 5 MB
    s = g.post(
        f"/users/{sandbox.ANA}/events/{ev['id']}/attachments/createUploadSession",
        json={"AttachmentItem": {"attachmentType": "file", "name": "big.bin", "size": len(data)}},
    )
    assert s.status_code == 201 and s.json()["nextExpectedRanges"] == ["0-"]
    upload = s.json()["uploadUrl"]
    raw = httpx.Client()  # pre-authenticated URL: no Authorization header
    half = 3 * 1024 * 1024
    r1 = raw.put(
        upload, content=data[:half], headers={"Content-Range": f"bytes 0-{half - 1}/{len(data)}"}
    )
    assert r1.status_code == 200 and r1.json()["nextExpectedRanges"] == [str(half)]
    r2 = raw.put(
        upload,
        content=data[half:],
        headers={"Content-Range": f"bytes {half}-{len(data) - 1}/{len(data)}"},
    )
    assert r2.status_code == 201 and "Attachments('" in r2.headers["Location"]
    listed = g.get(f"/users/{sandbox.ANA}/events/{ev['id']}/attachments").json()["value"]
    assert sorted(a["size"] for a in listed) == [5, len(data)]
    big = next(a for a in listed if a["name"] == "big.bin")
    assert (
        g.get(f"/users/{sandbox.ANA}/events/{ev['id']}/attachments/{big['id']}/$value").content
        == data
    )
    assert g.get(f"/users/{sandbox.ANA}/events/{ev['id']}").json()["hasAttachments"] is True


def test_O4_subscription_validation_and_notifications_with_client_state(sandbox) -> None:
    received: list[dict] = []
    got = threading.Event()
    hook = FastAPI()

    @hook.post("/hook")
    async def receive(request: Request) -> Response:
        token = request.query_params.get("validationToken")
        if token is not None:
            return PlainTextResponse(token)
        received.append(await request.json())
        got.set()
        return Response(status_code=202)

    @hook.post("/refuse")
    async def refuse() -> Response:
        return Response(status_code=500)

    with ServerThread(hook, tls=process_tls()) as hs:
        g = sandbox.http()
        now = datetime.now(UTC)
        exp = (now + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        if True:
            bad = g.post(
                "/subscriptions",
                json={
                    "changeType": "created,updated",
                    "notificationUrl": hs.url + "/refuse",
                    "resource": f"/users/{sandbox.ANA}/events",
                    "expirationDateTime": exp,
                    "clientState": "s3cret",
                },
            )
            assert_error(bad, 400, "InvalidRequest")
            r = g.post(
                "/subscriptions",
                json={
                    "changeType": "created,updated,deleted",
                    "notificationUrl": hs.url + "/hook",
                    "resource": f"/users/{sandbox.ANA}/events",
                    "expirationDateTime": exp,
                    "clientState": "s3cret",
                },
            )
            assert r.status_code == 201, r.text
            sub = r.json()
            assert {
                "id",
                "resource",
                "applicationId",
                "changeType",
                "clientState",
                "notificationUrl",
                "expirationDateTime",
                "creatorId",
                "includeResourceData",
                "latestSupportedTlsVersion",
            } <= set(sub)
            g.post(
                f"/users/{sandbox.ANA}/events",
                json=sandbox.event("n", "2026-12-29T10:00:00", "2026-12-29T11:00:00"),
            )
            assert got.wait(5)
            note = received[0]["value"][0]
            assert note["clientState"] == "s3cret" and note["subscriptionId"] == sub["id"]
            assert note["changeType"] == "created" and note["resourceData"]["id"]
            too_long = g.patch(
                f"/subscriptions/{sub['id']}",
                json={
                    "expirationDateTime": (now + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
                },
            )
            assert too_long.status_code == 400
            assert (
                g.patch(
                    f"/subscriptions/{sub['id']}",
                    json={
                        "expirationDateTime": (now + timedelta(days=3)).strftime(
                            "%Y-%m-%dT%H:%M:%SZ"
                        )
                    },
                ).status_code
                == 200
            )
            assert g.delete(f"/subscriptions/{sub['id']}").status_code == 204


def test_control_api_seeds_faults_and_counts(sandbox) -> None:
    c = httpx.Client(base_url=sandbox.url)
    assert (
        c.post(
            "/_sandbox/users",
            json={"users": [{"address": "dee@contoso.example", "displayName": "Dee"}]},
        ).status_code
        == 201
    )
    r = c.post(
        "/_sandbox/users/dee@contoso.example/events",
        json={
            **sandbox.event("seeded", "2026-03-10T10:00:00", "2026-03-10T11:00:00"),
            "_originalStartTimeZone": "tzone://Microsoft/Custom",
        },
    )
    assert r.status_code == 201 and r.json()["originalStartTimeZone"] == "tzone://Microsoft/Custom"
    info = c.get("/_sandbox/info").json()
    assert info["tenant_id"] == sandbox.state.tenant_id and info["graph_url"].endswith("/v1.0")
    assert "dee@contoso.example" in [u["address"] for u in info["users"]]
    assert (
        c.put("/_sandbox/faults", json={"fail_next": 1, "fail_status": 503}).json()["fail_next"]
        == 1
    )
    assert c.put("/_sandbox/faults", json={"nonsense": 1}).status_code == 400
    g = sandbox.http()
    assert g.get("/users/dee@contoso.example/events").status_code == 503
    assert g.get("/users/dee@contoso.example/events").status_code == 200
    assert c.post("/_sandbox/delta/expire").status_code == 200
    assert c.post("/_sandbox/tokens/expire").json()["expired"] >= 1
    stats = c.get("/_sandbox/stats").json()
    assert stats["requests"]["GET /users/{id}/events"] >= 2
    assert stats["total"] >= 3
    assert c.delete("/_sandbox/stats").status_code == 204
    assert c.get("/_sandbox/stats").json()["total"] == 0


def test_reset_keeps_app_registrations(sandbox) -> None:
    sandbox.state.add_app("extra-app", "extra-secret")
    assert httpx.post(f"{sandbox.url}/_sandbox/reset").status_code == 204
    r = httpx.post(
        f"{sandbox.url}/{sandbox.state.tenant_id}/oauth2/v2.0/token",
        data={
            "client_id": "extra-app",
            "client_secret": "extra-secret",
            "scope": "https://graph.microsoft.com/.default",
            "grant_type": "client_credentials",
        },
    )
    assert r.status_code == 200 and sandbox.state.mailboxes == {}


def test_emulator_serves_a_fresh_state_when_none_given() -> None:
    app = create_app()
    with ServerThread(app) as srv:
        info = httpx.get(srv.url + "/_sandbox/info").json()
        assert info["users"] == []


def test_organizer_updates_reach_attendee_copies(sandbox) -> None:
    g = sandbox.http()
    body = sandbox.event(
        "Kick-off",
        "2026-03-12T10:00:00",
        "2026-03-12T11:00:00",
        attendees=[
            {"emailAddress": {"address": sandbox.BO}},
            {"emailAddress": {"address": sandbox.CY}},
        ],
    )
    org = g.post(f"/users/{sandbox.ANA}/events", json=body).json()
    bo_copy = g.get(f"/users/{sandbox.BO}/events").json()["value"][0]
    g.patch(
        f"/users/{sandbox.ANA}/events/{org['id']}",
        json={
            "subject": "Kick-off (moved)",
            "start": {"dateTime": "2026-03-13T10:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-03-13T11:00:00", "timeZone": "UTC"},
            "attendees": [{"emailAddress": {"address": sandbox.BO}}],
        },
    )
    moved = g.get(f"/users/{sandbox.BO}/events/{bo_copy['id']}").json()
    assert moved["subject"] == "Kick-off (moved)"
    assert moved["start"]["dateTime"].startswith("2026-03-13T10:00")
    assert moved["changeKey"] != bo_copy["changeKey"]
    assert moved["categories"] == [] and moved["isOrganizer"] is False
    cy = g.get(f"/users/{sandbox.CY}/events").json()["value"][0]
    assert cy["isCancelled"] is True  # removed attendees get a cancellation


def test_decline_removes_the_copy_and_updates_the_organizer(sandbox) -> None:
    g = sandbox.http()
    org = g.post(
        f"/users/{sandbox.ANA}/events",
        json=sandbox.event(
            "1:1",
            "2026-03-12T10:00:00",
            "2026-03-12T10:30:00",
            attendees=[{"emailAddress": {"address": sandbox.BO}}],
        ),
    ).json()
    copy = g.get(f"/users/{sandbox.BO}/events").json()["value"][0]
    assert (
        g.post(
            f"/users/{sandbox.BO}/events/{copy['id']}/decline", json={"sendResponse": True}
        ).status_code
        == 202
    )
    assert g.get(f"/users/{sandbox.BO}/events/{copy['id']}").status_code == 404
    org_now = g.get(f"/users/{sandbox.ANA}/events/{org['id']}").json()
    assert org_now["attendees"][0]["status"]["response"] == "declined"


def test_O4_lifecycle_missed_notification(sandbox) -> None:
    got: list[dict] = []
    arrived = threading.Event()
    hook = FastAPI()

    @hook.post("/n")
    async def n(request: Request) -> Response:
        if "validationToken" in request.query_params:
            return PlainTextResponse(request.query_params["validationToken"])
        return Response(status_code=202)

    @hook.post("/life")
    async def life(request: Request) -> Response:
        if "validationToken" in request.query_params:  # E4: Graph validates this URL too
            return PlainTextResponse(request.query_params["validationToken"])
        got.append(await request.json())
        arrived.set()
        return Response(status_code=202)

    with ServerThread(hook, tls=process_tls()) as hs:
        g = sandbox.http()
        exp = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        sub = g.post(
            "/subscriptions",
            json={
                "changeType": "updated",
                "notificationUrl": hs.url + "/n",
                "lifecycleNotificationUrl": hs.url + "/life",
                "resource": f"/users/{sandbox.ANA}/events",
                "expirationDateTime": exp,
                "clientState": "cs",
            },
        ).json()
        r = httpx.post(
            f"{sandbox.url}/_sandbox/subscriptions/{sub['id']}/lifecycle",
            json={"lifecycleEvent": "missed"},
        )
        assert r.status_code == 202
        assert arrived.wait(5)
        assert (
            got[0]["value"][0]["lifecycleEvent"] == "missed"
            and got[0]["value"][0]["clientState"] == "cs"
        )


def test_body_content_type_preference_and_top(sandbox) -> None:
    for i in range(3):
        sandbox.state.seed_event(
            sandbox.ANA, sandbox.event(f"b{i}", f"2026-03-1{i}T09:00:00", f"2026-03-1{i}T10:00:00")
        )
    g = sandbox.http()
    r = g.get(
        f"/users/{sandbox.ANA}/events",
        params={"$top": "2"},
        headers={"Prefer": 'outlook.body-content-type="text"'},
    )
    body = r.json()
    assert len(body["value"]) == 2 and "$skip=2" in body["@odata.nextLink"]
    assert body["value"][0]["body"] == {"contentType": "text", "content": "b0"}
    assert 'outlook.body-content-type="text"' in r.headers["Preference-Applied"]
    sel = g.get(f"/users/{sandbox.ANA}/events", params={"$select": "subject"}).json()["value"][0]
    assert set(sel) == {"@odata.etag", "id", "subject"}


def test_invitations_from_external_organizers_share_the_guid(sandbox) -> None:
    c = httpx.Client(base_url=sandbox.url)
    uid = "040000008200E00074C5B7101A82E0080000000000000000000000000000000000000000ABCDEF"
    body = {
        **sandbox.event("Vendor pitch", "2026-03-12T15:00:00", "2026-03-12T16:00:00"),
        "attendees": [
            {"emailAddress": {"address": sandbox.ANA}},
            {"emailAddress": {"address": sandbox.BO}},
        ],
        "organizer": {"emailAddress": {"address": "eu1@fabrikam.example", "name": "EU One"}},
        "iCalUId": uid,
    }
    ids = []
    for mb in (sandbox.ANA, sandbox.BO):
        r = c.post(f"/_sandbox/users/{mb}/invitations", json=dict(body))
        assert r.status_code == 201, r.text
        ev = r.json()
        assert ev["iCalUId"] == uid and ev["isOrganizer"] is False
        assert ev["responseStatus"]["response"] == "notResponded"
        assert ev["organizer"]["emailAddress"] == {
            "name": "EU One",
            "address": "eu1@fabrikam.example",
        }
        ids.append(ev["id"])
    g = sandbox.http()
    assert (
        g.post(
            f"/users/{sandbox.ANA}/events/{ids[0]}/accept", json={"sendResponse": True}
        ).status_code
        == 202
    )
    assert (
        g.get(f"/users/{sandbox.ANA}/events/{ids[0]}").json()["responseStatus"]["response"]
        == "accepted"
    )
    assert (
        g.get(f"/users/{sandbox.BO}/events/{ids[1]}").json()["responseStatus"]["response"]
        == "notResponded"
    )
    assert g.post(f"/users/{sandbox.BO}/events/{ids[1]}/cancel", json={}).status_code == 400
