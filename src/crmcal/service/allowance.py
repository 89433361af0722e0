"""O2: the org's Salesforce daily allowance, shared by every worker through the state store.

Every Salesforce response carries `Sforce-Limit-Info: api-usage=used/max`; the connector parses it
(`SalesforceClient.usage`). Whoever sees it records it here. When the remaining allowance falls
under `api_reserve_percent`, all sessions of the org back off: 30 minutes, then 2.5 h, 4.5 h, ...
(each further back-off two hours longer), until a read after the back-off finds the allowance
above the reserve again, which resets the sequence. The dashboard reads `allowance_status`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crmcal.domain.crm import ApiUsage
from crmcal.state import StateStore
from crmcal.state.models_ops import ApiAllowanceRow

SALESFORCE = "salesforce"


def backoff_delay(level: int) -> timedelta:
    """O2: the n-th back-off in a row lasts 30 min, 2.5 h, 4.5 h, ... (pure)."""
    if level <= 0:
        return timedelta(0)
    return timedelta(minutes=30) + timedelta(hours=2) * (level - 1)


def below_reserve(usage: ApiUsage, reserve_percent: int) -> bool:
    """Pure: is the remaining allowance under the reserve? An unknown max counts as fine."""
    return usage.max > 0 and usage.remaining_percent < reserve_percent


@dataclass(frozen=True)
class AllowanceStatus:
    used: int
    max: int
    observed_at: datetime | None
    backoff_level: int
    backoff_until: datetime | None

    @property
    def remaining_percent(self) -> float | None:
        return ApiUsage(self.used, self.max).remaining_percent if self.max else None

    def backing_off(self, now: datetime) -> bool:
        return self.backoff_until is not None and self.backoff_until > now

    def as_dict(self, now: datetime) -> dict[str, object]:
        """For the dashboard and metrics."""
        return {
            "used": self.used,
            "max": self.max,
            "remaining_percent": self.remaining_percent,
            "observed_at": self.observed_at.isoformat() if self.observed_at else None,
            "backing_off": self.backing_off(now),
            "backoff_level": self.backoff_level,
            "backoff_until": self.backoff_until.isoformat() if self.backoff_until else None,
        }


def allowance_status(store: StateStore, api: str = SALESFORCE) -> AllowanceStatus:
    with store.session() as s:
        return allowance_status_in(s, api)


def allowance_status_in(s: Session, api: str = SALESFORCE) -> AllowanceStatus:
    """`allowance_status` within the caller's transaction."""
    row = s.get(ApiAllowanceRow, api)
    if row is None:
        return AllowanceStatus(0, 0, None, 0, None)
    return AllowanceStatus(row.used, row.max, row.observed_at, row.backoff_level, row.backoff_until)


def backing_off(store: StateStore, now: datetime, api: str = SALESFORCE) -> datetime | None:
    """Until when sessions must wait (None: they may run)."""
    with store.session() as s:
        return backing_off_in(s, now, api)


_UNTIL = select(ApiAllowanceRow.backoff_until).where(ApiAllowanceRow.api == bindparam("api"))


def backing_off_in(s: Session, now: datetime, api: str = SALESFORCE) -> datetime | None:
    """`backing_off` within the caller's transaction (one column read: every Celery member
    asks)."""
    until: datetime | None = s.connection().execute(_UNTIL, {"api": api}).scalar()
    return until if until is not None and until > now else None


def observe(
    store: StateStore,
    usage: ApiUsage | None,
    *,
    reserve_percent: int,
    now: datetime,
    api: str = SALESFORCE,
) -> AllowanceStatus:
    """Record what a response said; start (or lengthen) a back-off when under the reserve.

    A worker that sees a low allowance while a back-off is already running leaves it alone, so
    many workers seeing the same low number start one back-off, not many."""
    try:
        with store.session() as s:
            if s.get(ApiAllowanceRow, api) is None:
                s.add(ApiAllowanceRow(api=api, used=0, max=0, backoff_level=0))
    except IntegrityError:
        pass  # another worker made the row a moment ago
    with store.session() as s:
        row = s.get(ApiAllowanceRow, api, with_for_update=True)
        assert row is not None
        if usage is not None:
            row.used, row.max, row.observed_at = usage.used, usage.max, now
            running = row.backoff_until is not None and row.backoff_until > now
            if below_reserve(usage, reserve_percent):
                if not running:
                    row.backoff_level = (row.backoff_level or 0) + 1
                    row.backoff_until = now + backoff_delay(row.backoff_level)
            elif not running:
                row.backoff_level = 0
                row.backoff_until = None
        return AllowanceStatus(
            row.used, row.max, row.observed_at, row.backoff_level, row.backoff_until
        )
