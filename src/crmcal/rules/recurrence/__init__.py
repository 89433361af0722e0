"""Recurrence conversions (issue #7; SPEC R3, R4, R6, N3): Graph `patternedRecurrence`, RFC 5545
RRULE, Salesforce Classic series fields and Lightning `Recurrence2PatternText`. Pure: no I/O, no
clock.

Every conversion either gives an exact equivalent or an `Inexpressible` with a reason code and a
text a person reads; nothing is approximated. Each format has its own expander (Graph natively,
Classic and RRULE/Lightning through python-dateutil) so tests can prove the conversions by
expanding both sides.
"""

from ._common import (
    NOT_EXACT_WINDOWS_ZONES,
    Inexpressible,
    Reason,
    ResolvedZone,
    localize,
    resolve_zone,
)
from .checks import (
    CLASSIC_CAP_DAILY,
    CLASSIC_CAP_MONTHLY,
    CLASSIC_CAP_WEEKLY,
    CLASSIC_CAP_YEARLY,
    DEFAULT_CLASSIC_CAPS,
    LIGHTNING_MAX_COUNT,
    LIGHTNING_MAX_INTERVAL,
    MAX_OCCURRENCE,
    ClassicCaps,
    Target,
    check_series,
)
from .classic import (
    CLASSIC_MONTH_END_CLAMPS,
    CLASSIC_WEEK_START,
    expand_classic,
    from_classic,
    to_classic,
)
from .graph import (
    InvalidPattern,
    expand_graph,
    normalise_graph,
    occurrence_dates,
    validate_graph,
)
from .lightning import expand_lightning, from_lightning, normalise_lightning, to_lightning
from .rfc import (
    PART_ORDER,
    RuleParts,
    RuleSyntaxError,
    expand_rule,
    from_rrule,
    parse_rule,
    to_rrule,
)

expand_rrule = expand_rule

__all__ = [
    "CLASSIC_CAP_DAILY",
    "CLASSIC_CAP_MONTHLY",
    "CLASSIC_CAP_WEEKLY",
    "CLASSIC_CAP_YEARLY",
    "CLASSIC_MONTH_END_CLAMPS",
    "CLASSIC_WEEK_START",
    "DEFAULT_CLASSIC_CAPS",
    "LIGHTNING_MAX_COUNT",
    "LIGHTNING_MAX_INTERVAL",
    "MAX_OCCURRENCE",
    "NOT_EXACT_WINDOWS_ZONES",
    "PART_ORDER",
    "ClassicCaps",
    "Inexpressible",
    "InvalidPattern",
    "Reason",
    "ResolvedZone",
    "RuleParts",
    "RuleSyntaxError",
    "Target",
    "check_series",
    "expand_classic",
    "expand_graph",
    "expand_lightning",
    "expand_rrule",
    "expand_rule",
    "from_classic",
    "from_lightning",
    "from_rrule",
    "localize",
    "normalise_graph",
    "normalise_lightning",
    "occurrence_dates",
    "parse_rule",
    "resolve_zone",
    "to_classic",
    "to_lightning",
    "to_rrule",
    "validate_graph",
]
