"""Salesforce record ids checked before they go into a SOQL literal (issue 17): a pure check,
used by the connector, the engine and the dashboard.

A real org fails the whole query when one id literal in a WHERE clause is malformed (400
``INVALID_QUERY_FILTER_OPERATOR``, "invalid ID field: ..."; restforce issue #557), so one bad id
from configuration, a group-calendar owner or a dashboard pick would fail a whole org read. Ids
are 15 case-sensitive characters, or 18 where the last three encode the case of the first 15
(Salesforce Help, "Find the Salesforce ID for a record": the 18-character form is
case-insensitive). An 18-character id whose suffix doesn't match its first 15 characters is
refused here too, so a mistyped id doesn't silently name another record.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

log = logging.getLogger(__name__)

_CHECK = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def _suffix(id15: str) -> str:
    out = ""
    for chunk in range(3):
        bits = 0
        for i, c in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= c <= "Z":
                bits |= 1 << i
        out += _CHECK[bits]
    return out


def is_valid_id(value: object) -> bool:
    """15 ASCII letters/digits, or 18 whose last three are the checksum of the first 15."""
    if not isinstance(value, str) or len(value) not in (15, 18):
        return False
    if not value.isascii() or not value.isalnum():
        return False
    return len(value) == 15 or value[15:].upper() == _suffix(value[:15])


def id_problem(value: object) -> str | None:
    """Why ``value`` is not a Salesforce id, or None when it is one."""
    if is_valid_id(value):
        return None
    if not isinstance(value, str):
        return f"not a Salesforce id: {value!r}"
    if len(value) not in (15, 18) or not value.isascii() or not value.isalnum():
        return f"not a Salesforce id (15 or 18 letters and digits): {value!r}"
    return f"not a Salesforce id (the last 3 characters don't match the first 15): {value!r}"


def valid_ids(values: Iterable[str], what: str) -> list[str]:
    """The valid ids among ``values``, sorted and unique; each one left out is logged once
    with the reason (the read carries on without it)."""
    good: set[str] = set()
    for v in values:
        problem = id_problem(v)
        if problem is None:
            good.add(v)
        elif v:
            log.warning("skipped in %s: %s", what, problem)
    return sorted(good)


__all__ = ["id_problem", "is_valid_id", "valid_ids"]
