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
from crmcal.state.models_web import SettingOverrideRow
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
        if row is None:
            row = SettingOverrideRow(scope=scope, values=diff, updated_by=by)
            s.add(row)
        else:
            row.values = diff
            row.updated_by = by
    return diff
