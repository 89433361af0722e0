"""X7, one guard over every Salesforce deletion a session plans (docs/decisions/0036, 0120).

The item plan and the series plan are both made before anything is written. Their deletions are
weighed together, once, here: the session is over the guard or it is not, and when it is, every
deletion of the plan is held (the items' with `HoldDelete`, the series' with `HoldSeries`), so
a session cannot slip past the guard by splitting its deletions between items and series.
Pure: counts in, a verdict out.
"""

from __future__ import annotations

from dataclasses import dataclass

from crmcal.domain import OrgSettings


@dataclass(frozen=True, slots=True)
class Deletions:
    """What one part of a plan would delete."""

    events: int = 0
    """Salesforce Events (a whole series counts as its occurrence Events, at least one)."""
    things: int = 0
    """Shared things (an item is one, a whole series is one; single cancellations none)."""

    def __add__(self, other: Deletions) -> Deletions:
        return Deletions(self.events + other.events, self.things + other.things)


NONE = Deletions()


def over_guard(org: OrgSettings, total: Deletions, linked: int, *, confirmed: bool) -> bool:
    """X7: more than `mass_delete_guard` Events, or more than half of what the user has linked
    (two things or more), unless someone confirmed the deletions."""
    if confirmed or total.events == 0:
        return False
    if total.events > org.mass_delete_guard:
        return True
    return total.things >= 2 and 2 * total.things > linked


__all__ = ["NONE", "Deletions", "over_guard"]
