"""Scale-out (issue 10): session leases across workers, shared Salesforce allowance: tables.

Imported by `crmcal.state.models` so that `Base.metadata` is complete; created by migration
0002.
"""

from __future__ import annotations

from crmcal.state.models import Base

__all__ = ["Base"]
