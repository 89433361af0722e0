"""Engine additions (issues 6 and 7): series and one-way calendars: tables.

Imported by `crmcal.state.models` so that `Base.metadata` is complete; created by migration
0005.
"""

from __future__ import annotations

from crmcal.state.models import Base

__all__ = ["Base"]
