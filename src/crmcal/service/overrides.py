"""The configuration as sessions see it: the file, with the dashboard's overrides applied.

The configuration file (and the environment) stay the base. The runner (and the Celery worker, and
the dashboard's Save) call `effective_config` before every cycle, so a change made in the
dashboard takes effect at the next session without a restart. Here, not in `web/`, so that
`service/` never imports `web/` (an import-linter contract).
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ValidationError

from crmcal.config import Config
from crmcal.domain.settings import OrgSettings, UserSettings
from crmcal.state import StateStore
from crmcal.state.models_web import ORG_SCOPE
from crmcal.state.overrides import load_overrides, paused_mailboxes

log = logging.getLogger("crmcal.web")


def _merge(model: type[BaseModel], base: BaseModel, over: dict[str, Any], scope: str) -> Any:
    if not over:
        return base
    try:
        return model.model_validate({**base.model_dump(mode="json"), **over})
    except ValidationError as exc:  # the file changed under a stored override: the file wins
        log.warning("stored %s settings no longer valid, ignored: %s", scope, exc.error_count())
        return base


def effective_config(cfg: Config, store: StateStore) -> Config:
    """The configuration with the dashboard's overrides and pause switches applied."""
    overrides = load_overrides(store)
    paused = paused_mailboxes(store)
    if not overrides and not paused:
        return cfg
    org = _merge(OrgSettings, cfg.org, overrides.get(ORG_SCOPE, {}), ORG_SCOPE)
    users = []
    for u in cfg.users:
        st: UserSettings = _merge(UserSettings, u.settings, overrides.get(u.mailbox, {}), u.mailbox)
        if u.mailbox in paused and not st.paused:
            st = st.model_copy(update={"paused": True})
        users.append(u.model_copy(update={"settings": st}))
    return cfg.model_copy(update={"org": org, "users": tuple(users)})
