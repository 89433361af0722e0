"""`crmcal doctor`: the Salesforce REST API version in use and the newest the org offers
(issue 17). Kept apart from the CLI so the command only prints what this returns."""

from __future__ import annotations

from crmcal.config import Config
from crmcal.connectors.errors import ConnectorError
from crmcal.connectors.salesforce.versions import version_report


def version_check(cfg: Config) -> tuple[str, str, str] | None:
    """(area, `ok`/`warn`/`fail`, detail), or None when Salesforce is not configured. Reads the
    org's `/services/data/` list (one token request, no API call counted)."""
    sf = cfg.salesforce
    if not sf.configured:
        return None
    if (sf.username and sf.key()) if sf.auth == "jwt" else sf.secret():
        pass
    else:
        return None  # the Salesforce check already says what is missing
    from crmcal.service.runner import build_crm

    area = "Salesforce API version"
    try:
        with build_crm(cfg) as crm:
            served = crm.served_versions()
    except (ConnectorError, ValueError) as e:
        return (area, "warn", f"v{cfg.salesforce.api_version}: the org could not be asked: {e}")
    report = version_report(cfg.salesforce.api_version, served)
    status = "warn" if report.served is None else "ok" if report.served else "fail"
    return (area, status, "; ".join(x.strip() for x in report.lines()))


__all__ = ["version_check"]
