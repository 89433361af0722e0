"""Prometheus metrics (`/metrics`), read from the state store at scrape time.

- `crmcal_sessions_total{status,trigger}`: sessions recorded.
- `crmcal_api_calls_total{api}`: Salesforce and Graph calls the recorded sessions spent, plus the
  calls this process made (`crmcal_process_api_calls_total{api}`).
- `crmcal_salesforce_api_used` / `crmcal_salesforce_api_max` / `crmcal_salesforce_api_remaining`:
  the org's daily allowance as the last Salesforce response reported it (`Sforce-Limit-Info`).
- `crmcal_issues_open{reason}`: open issues by reason (I1).
- `crmcal_users_unhealthy`, `crmcal_users_paused`: I3 and O1.
- `crmcal_notifications_total{outcome}`: change notifications accepted and rejected (O4, Y2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from crmcal.state import StateStore
from crmcal.state.models import IssueRow, SessionRow, UserHealthRow

CALL_KEYS = {"salesforce": ("salesforce_calls", "sf_calls"), "graph": ("graph_calls",)}


class StateCollector(Collector):
    def __init__(
        self,
        store: StateStore,
        usage: Callable[[], tuple[int, int] | None],
        process_calls: Callable[[], dict[str, int]],
        notifications: Callable[[], dict[str, int]],
    ) -> None:
        self.store = store
        self.usage = usage
        self.process_calls = process_calls
        self.notifications = notifications

    def collect(self) -> Iterator[Any]:
        sessions = CounterMetricFamily(
            "crmcal_sessions", "Sessions recorded.", labels=["status", "trigger"]
        )
        calls = CounterMetricFamily(
            "crmcal_api_calls", "API calls spent by recorded sessions.", labels=["api"]
        )
        issues = GaugeMetricFamily(
            "crmcal_issues_open", "Open issues by reason.", labels=["reason"]
        )
        with self.store.session() as s:
            q = select(SessionRow.status, SessionRow.trigger, func.count()).group_by(
                SessionRow.status, SessionRow.trigger
            )
            for status, trigger, n in s.execute(q):
                sessions.add_metric([str(status), str(trigger)], float(n))
            totals = {"salesforce": 0.0, "graph": 0.0}
            for (stats,) in s.execute(select(SessionRow.stats)):
                for api, keys in CALL_KEYS.items():
                    for k in keys:
                        v = (stats or {}).get(k)
                        if isinstance(v, int | float):
                            totals[api] += float(v)
            for api, v in totals.items():
                calls.add_metric([api], v)
            q2 = (
                select(IssueRow.reason, func.count())
                .where(IssueRow.resolved_at.is_(None), IssueRow.dismissed.is_(False))
                .group_by(IssueRow.reason)
            )
            for reason, n in s.execute(q2):
                issues.add_metric([str(reason)], float(n))
            unhealthy = s.scalar(
                select(func.count()).select_from(UserHealthRow).where(UserHealthRow.unhealthy)
            )
            paused = s.scalar(
                select(func.count()).select_from(UserHealthRow).where(UserHealthRow.paused)
            )
        yield sessions
        yield calls
        yield issues
        yield GaugeMetricFamily(
            "crmcal_users_unhealthy", "Users marked unhealthy (I3).", value=float(unhealthy or 0)
        )
        yield GaugeMetricFamily(
            "crmcal_users_paused", "Users with sync paused (O1).", value=float(paused or 0)
        )
        proc = CounterMetricFamily(
            "crmcal_process_api_calls", "API calls made by this process.", labels=["api"]
        )
        for api, n in self.process_calls().items():
            proc.add_metric([api], float(n))
        yield proc
        u = self.usage()
        if u is not None:
            used, mx = u
            yield GaugeMetricFamily(
                "crmcal_salesforce_api_used", "Daily API requests used.", value=used
            )
            yield GaugeMetricFamily(
                "crmcal_salesforce_api_max", "Daily API request allowance.", value=mx
            )
            yield GaugeMetricFamily(
                "crmcal_salesforce_api_remaining", "Daily API requests left.", value=mx - used
            )
        notes = CounterMetricFamily(
            "crmcal_notifications", "Graph change notifications.", labels=["outcome"]
        )
        for k, n in self.notifications().items():
            notes.add_metric([k], float(n))
        yield notes


def registry(collector: StateCollector) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(collector)
    return reg


def render(reg: CollectorRegistry) -> bytes:
    return generate_latest(reg)
