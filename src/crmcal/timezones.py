"""Windows ⇄ IANA zone names through the CLDR table that tzlocal ships (api-facts A13, SPEC N3).

Graph returns `originalStartTimeZone` and `recurrenceTimeZone` as Windows names (or the legacy
`tzone://Microsoft/Custom`); Salesforce and Python use IANA ids. The mapping is Unicode CLDR
`windowsZones.xml` (territory `001` for Windows→IANA), generated into `tzlocal.windows_tz`; nothing
here is a hand-written table.
"""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from tzlocal import windows_tz

CUSTOM_ZONE = "tzone://Microsoft/Custom"
"""The name Graph reports for a legacy custom zone that has no Windows or IANA id."""

_WIN_TO_IANA: dict[str, str] = dict(windows_tz.win_tz)
_IANA_TO_WIN: dict[str, str] = dict(windows_tz.tz_win)
_WIN_LOWER: dict[str, str] = {k.lower(): k for k in _WIN_TO_IANA}
_UTC_NAMES = frozenset({"utc", "etc/utc", "gmt", "etc/gmt", "z", "coordinated universal time"})


def is_custom(name: str | None) -> bool:
    """True for Graph's custom-zone marker (`tzone://Microsoft/Custom`, any case)."""
    return bool(name) and str(name).strip().lower().startswith("tzone://microsoft/custom")


def is_windows_name(name: str) -> bool:
    return name.strip().lower() in _WIN_LOWER


@lru_cache(maxsize=512)
def _is_iana(name: str) -> bool:
    if not name or name.startswith("tzone://"):
        return False
    if name in _IANA_TO_WIN:
        return True
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return name in available_timezones() or name in ("UTC",)


def windows_to_iana(name: str | None) -> str | None:
    """The IANA id for a Windows zone name (CLDR territory 001), or None when there is none.

    An IANA id is returned unchanged, so callers can pass whatever Graph sent. Custom zones and
    unknown names give None (SPEC N3: reported as unknown, never guessed).
    """
    if not name:
        return None
    raw = name.strip()
    if is_custom(raw):
        return None
    if raw.lower() in _UTC_NAMES:
        return "UTC"
    win = _WIN_LOWER.get(raw.lower())
    if win is not None:
        return _WIN_TO_IANA[win]
    if _is_iana(raw):
        return raw
    return None


def iana_to_windows(name: str | None) -> str | None:
    """The Windows zone name for an IANA id (CLDR), or None. Windows names are returned as is."""
    if not name:
        return None
    raw = name.strip()
    if raw.lower() in _UTC_NAMES:
        return "UTC"
    win = _WIN_LOWER.get(raw.lower())
    if win is not None:
        return win
    return _IANA_TO_WIN.get(raw)


def zoneinfo_for(name: str | None) -> ZoneInfo | None:
    """A `ZoneInfo` for a Windows or IANA name, or None when the name cannot be resolved."""
    iana = windows_to_iana(name)
    if iana is None:
        return None
    try:
        return ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError):
        return None
