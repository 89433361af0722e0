"""The dashboard's setting overrides and pause switches, as stored (SQL only; no merging here).

The dashboard stores only the keys an admin (org settings) or a user (their own settings) changed,
in `web_setting_overrides`; `paused` is the O1 pause switch kept in `user_health.paused`.
`crmcal.service.overrides.effective_config` lays them over the configuration file.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import select

from crmcal.state.models import UserHealthRow
from crmcal.state.models_web import AuditRow, SettingOverrideRow
from crmcal.state.store import StateStore

USER_EXCLUDED = frozenset({"paused"})


def load_overrides(store: StateStore) -> dict[str, dict[str, Any]]:
    with store.session() as s:
        return {r.scope: dict(r.values or {}) for r in s.scalars(select(SettingOverrideRow))}


def paused_mailboxes(store: StateStore) -> set[str]:
    with store.session() as s:
        return set(s.scalars(select(UserHealthRow.mailbox).where(UserHealthRow.paused.is_(True))))


def store_overrides(
    store: StateStore, scope: str, base: BaseModel, wanted: BaseModel, by: str
) -> dict[str, Any]:
    """Keep the keys where `wanted` differs from the file's `base`; returns them."""
    b, w = base.model_dump(mode="json"), wanted.model_dump(mode="json")
    diff = {k: v for k, v in w.items() if b.get(k) != v and k not in USER_EXCLUDED}
    with store.session() as s:
        row = s.get(SettingOverrideRow, scope)
        before = b | dict(row.values or {}) if row is not None else b
        if row is None:
            row = SettingOverrideRow(scope=scope, values=diff, updated_by=by)
            s.add(row)
        else:
            row.values = diff
            row.updated_by = by
        for k, v in w.items():  # issue 19: who changed which setting when
            if k not in USER_EXCLUDED and before.get(k) != v:
                s.add(AuditRow(actor=by, scope=scope, key=k, old=before.get(k), new=v))
    return diff


def record_audit(
    store: StateStore, actor: str, scope: str, key: str, old: Any = None, new: Any = None
) -> None:
    with store.session() as s:
        s.add(AuditRow(actor=actor, scope=scope, key=key, old=old, new=new))


def audit_log(store: StateStore, scope: str | None = None, limit: int = 50) -> list[AuditRow]:
    """The newest changes first; of one scope (`org`, a mailbox, `accounts`) or all."""
    with store.session() as s:
        q = select(AuditRow)
        if scope is not None:
            q = q.where(AuditRow.scope == scope)
        return list(s.scalars(q.order_by(AuditRow.id.desc()).limit(limit)))
