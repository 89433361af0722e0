"""REST API versions an org serves (issue 17, E8).

``GET /services/data/`` lists them without a session (REST API Developer Guide, "List Available
REST API Versions": ``[{"label": "Winter '27", "url": "/services/data/v68.0", "version": "68.0"},
...]``). crmcal reads it once per process and instance, and refuses to run against an org that
doesn't serve the configured version: a real org answers 404 NOT_FOUND to every call of such a
version, which would otherwise look like missing records.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import httpx

from crmcal.connectors.salesforce.errors import UnservedApiVersion

log = logging.getLogger(__name__)

_SERVED: dict[str, tuple[str, ...]] = {}
"""instance URL -> versions it serves, oldest first; filled once per process."""
_LOCK = threading.Lock()


def _key(v: str) -> tuple[int, int]:
    major, _, minor = v.partition(".")
    return (int(major), int(minor or 0))


def parse_versions(data: object) -> tuple[str, ...] | None:
    """The ``version`` values of a ``/services/data/`` answer, oldest first; None if the answer
    doesn't have the documented shape."""
    if not isinstance(data, list):
        return None
    out: set[str] = set()
    for entry in data:
        v = entry.get("version") if isinstance(entry, dict) else None
        if isinstance(v, str) and v.replace(".", "", 1).isdigit():
            out.add(v)
    return tuple(sorted(out, key=_key)) or None


def served_versions(
    http: httpx.Client, instance_url: str, *, timeout: float = 30.0
) -> tuple[str, ...] | None:
    """The versions the org at ``instance_url`` serves (cached for the process); None when the
    list could not be read (the check is then skipped, logged, and tried again next time)."""
    base = instance_url.rstrip("/")
    with _LOCK:
        cached = _SERVED.get(base)
    if cached is not None:
        return cached
    try:
        resp = http.get(base + "/services/data/", timeout=timeout)
        found = parse_versions(resp.json()) if resp.status_code == 200 else None
    except (httpx.HTTPError, ValueError) as e:
        log.warning("Salesforce API versions of %s not read: %s", base, e)
        return None
    if found is None:
        log.warning("Salesforce API versions of %s not read: unexpected answer", base)
        return None
    with _LOCK:
        _SERVED[base] = found
    return found


def check_version(version: str, served: tuple[str, ...], instance_url: str) -> None:
    """Raise `UnservedApiVersion` with what to configure when ``version`` is not served."""
    if version in served:
        return
    raise UnservedApiVersion(
        f"the Salesforce org at {instance_url} doesn't serve REST API v{version} (it serves "
        f"v{served[0]} to v{served[-1]}); set salesforce.api_version to one of those, e.g. "
        f"{served[-1]}"
    )


@dataclass(frozen=True, slots=True)
class VersionReport:
    """What `crmcal doctor` prints about the API version."""

    configured: str
    newest: str | None
    served: bool | None
    """None when the org's list could not be read."""

    def lines(self) -> list[str]:
        if self.served is None or self.newest is None:
            return [f"Salesforce API v{self.configured}: the org's version list could not be read"]
        state = "served by the org" if self.served else "NOT served by the org"
        out = [
            f"Salesforce API v{self.configured} in use ({state}); newest offered: v{self.newest}"
        ]
        if self.served and _key(self.newest) > _key(self.configured):
            out.append(f'  a newer version is available: salesforce.api_version = "{self.newest}"')
        return out


def version_report(configured: str, served: tuple[str, ...] | None) -> VersionReport:
    if served is None:
        return VersionReport(configured, None, None)
    return VersionReport(configured, served[-1], configured in served)


def forget_served() -> None:
    """Drop the per-process cache (tests that restart an org on the same address)."""
    with _LOCK:
        _SERVED.clear()


__all__ = [
    "VersionReport",
    "check_version",
    "forget_served",
    "parse_versions",
    "served_versions",
    "version_report",
]
