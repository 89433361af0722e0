"""The org at a glance (issue 19): the admin's home page."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from crmcal.service.allowance import allowance_status
from crmcal.state.models import SessionRow
from crmcal.state.models_web import SubscriptionRow
from crmcal.web.context import PageUser, Web, WebDep, health_rows, render_page

router = APIRouter(include_in_schema=False)


def last_errors(web: Web) -> dict[str, str]:
    """Each user's latest failed session's error, in words."""
    out: dict[str, str] = {}
    with web.store.session() as s:
        q = select(SessionRow).where(SessionRow.status == "failed").order_by(SessionRow.id.desc())
        for r in s.scalars(q.limit(500)):
            if r.mailbox and r.mailbox not in out:
                out[r.mailbox] = (r.error or "failed").splitlines()[0][:300]
    return out


def last_cycle(rows: list[SessionRow], interval: timedelta) -> dict[str, Any] | None:
    """The newest sessions that started within one interval of the newest one."""
    if not rows:
        return None
    newest = rows[0].started_at
    cycle = [r for r in rows if r.started_at >= newest - interval]
    ends = [r.finished_at for r in cycle if r.finished_at is not None]
    start = min(r.started_at for r in cycle)
    return {
        "started_at": start,
        "seconds": round((max(ends) - start).total_seconds(), 1) if ends else None,
        "sessions": len(cycle),
        "failed": sum(1 for r in cycle if str(r.status) == "failed"),
        "running": sum(1 for r in cycle if r.finished_at is None),
    }


def changes(rows: list[SessionRow], since: datetime) -> dict[str, int]:
    keys = ("created", "updated", "deleted")
    recent = [r for r in rows if r.started_at >= since]
    return {k: sum(int((r.stats or {}).get(k, 0) or 0) for r in recent) for k in keys}


def subscriptions(web: Web, now: datetime) -> dict[str, Any]:
    with web.store.session() as s:
        subs = list(s.scalars(select(SubscriptionRow)))
    soon = now + timedelta(hours=6)
    return {
        "on": web.instant is not None,
        "count": len(subs),
        "expired": sum(1 for r in subs if r.expires_at <= now),
        "expiring": sum(1 for r in subs if now < r.expires_at <= soon),
        "counts": dict(web.instant.counts) if web.instant else {},
    }


@router.get("/overview", response_class=HTMLResponse)
def overview_page(request: Request, web: WebDep, p: PageUser) -> Response:
    if not p.is_admin:
        raise HTTPException(403, "admins only")
    now = datetime.now(UTC)
    org = web.service.cfg.org
    users = health_rows(web, p)
    errors = last_errors(web)
    sessions = web.store.recent_sessions(None, limit=500)
    issues = web.store.open_issues(None)
    allowance = allowance_status(web.store)
    usage = web.service.usage() or web.usage
    return render_page(
        web,
        request,
        "overview.html",
        p,
        page="overview",
        users=users,
        errors=errors,
        healthy=sum(1 for u in users if not u.unhealthy and not u.paused and u.enabled
                    and not u.consecutive_failures),
        failing=sum(1 for u in users if u.unhealthy or u.consecutive_failures),
        paused=sum(1 for u in users if u.paused or not u.enabled),
        by_reason=Counter(r.reason for r in issues).most_common(),
        by_user=Counter(r.mailbox for r in issues).most_common(),
        usage=usage,
        reserve=org.api_reserve_percent,
        backoff_until=allowance.backoff_until if allowance.backing_off(now) else None,
        cycle=last_cycle(sessions, timedelta(minutes=org.interval_minutes)),
        changes=changes(sessions, now - timedelta(hours=24)),
        subs=subscriptions(web, now),
    )  # fmt: skip
