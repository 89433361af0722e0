"""Auto-created records and attachments (issue 11): tables.

Imported by `crmcal.state.models` so that `Base.metadata` is complete; created by migration
0004.
"""

from __future__ import annotations

from crmcal.state.models import Base

__all__ = ["Base"]
