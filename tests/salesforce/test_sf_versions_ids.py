"""Issue 17: Salesforce ids checked before they reach an IN list, and the REST API version
(E8): default v68.0, checked once per process against `GET /services/data/`, and reported by
`crmcal doctor`."""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from crmcal.cli import app, run_checks
from crmcal.config import Config, SalesforceConfig
from crmcal.connectors.salesforce import SalesforceClient
from crmcal.connectors.salesforce.errors import UnservedApiVersion
from crmcal.connectors.salesforce.versions import forget_served
from crmcal.domain import CrmEvent
from crmcal.domain.ids import id_problem, is_valid_id, valid_ids
from crmcal.sandbox.runtime import Sandbox
from crmcal.service.runner import build_crm
from crmcal.service.sf_version import version_check

ALICE = "0055g0000000001"


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    forget_served()
    with Sandbox() as sb:
        yield sb
    forget_served()


def _cfg(sb: Sandbox, tmp_path: Path, version: str | None = None) -> Config:
    cfg = sb.config(data_dir=tmp_path)
    if version is None:
        return cfg
    sf: SalesforceConfig = cfg.salesforce.model_copy(update={"api_version": version})
    return cfg.model_copy(update={"salesforce": sf})


def test_ids_15_and_18_with_checksum() -> None:
    good15 = "0035g00000ABCde"
    assert is_valid_id(good15)
    assert is_valid_id("00U5g000000000AEAQ")
    assert not is_valid_id("00U5g000000000AEAA")  # suffix doesn't match the case of the 15
    assert not is_valid_id("003nope")
    assert not is_valid_id("003' OR Id != '12")
    assert not is_valid_id("0035g00000ABCdé")
    assert "don't match" in (id_problem("00U5g000000000AEAA") or "")


def test_valid_ids_skips_and_logs_each_bad_one(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        got = valid_ids(["00U5g000000000AEAQ", "bad", "00U5g000000000AEAQ", ""], "owners")
    assert got == ["00U5g000000000AEAQ"]
    assert [r.getMessage() for r in caplog.records] == [
        "skipped in owners: not a Salesforce id (15 or 18 letters and digits): 'bad'"
    ]


def test_one_bad_owner_id_does_not_fail_the_org_read(sandbox: Sandbox, tmp_path: Path) -> None:
    """A real org fails a whole query for one malformed id literal (INVALID_QUERY_FILTER_OPERATOR):
    the bad owner is left out with a log line and the others are read."""
    org = sandbox.salesforce
    alice = org.add_user("alice@contoso.example")
    with build_crm(_cfg(sandbox, tmp_path)) as crm:
        start = datetime(2026, 12, 10, 14, tzinfo=UTC)
        ev = CrmEvent(
            id=None, owner_id=alice, subject="Read me", start=start, end=start + timedelta(hours=1)
        )
        [res] = crm.create_events([ev])
        assert res.ok, res.error
        changes = crm.events_changed_since(None, [alice, "005-not-an-id", alice[:15] + "XYZ"])
        assert [e.subject for e in changes.events] == ["Read me"]
        assert crm.relations_for(["00Ubad"]) == []


def test_default_api_version_is_v68_winter_27(sandbox: Sandbox, tmp_path: Path) -> None:
    """E8: the newest GA release as of December 2026 is Winter '27 (v68.0)."""
    assert SalesforceConfig().api_version == "68.0"
    with build_crm(_cfg(sandbox, tmp_path)) as crm:
        assert crm.api_version == "68.0"
        crm.limits()
        assert crm.served_versions() is not None
        assert (crm.served_versions() or ())[-1] == "68.0"


def test_api_version_setting_changes_the_paths_and_an_unserved_one_is_refused(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """salesforce.api_version: 66.0 is used in every path; 69.0 (not released) and 30.0
    (retired) stop the client with what to configure, before any 404."""
    seen: list[str] = []

    def hook(request: httpx.Request) -> None:
        seen.append(request.url.path)

    cfg = _cfg(sandbox, tmp_path, "66.0")
    with build_crm(cfg) as crm:
        crm._http.event_hooks["request"].append(hook)
        crm.limits()
    assert "/services/data/v66.0/limits" in seen
    for version in ("69.0", "30.0"):
        with build_crm(_cfg(sandbox, tmp_path, version)) as crm:
            with pytest.raises(
                UnservedApiVersion, match=re.escape(f"doesn't serve REST API v{version}")
            ):
                crm.limits()
            with pytest.raises(UnservedApiVersion, match=r"salesforce\.api_version"):
                crm.users(ids=[ALICE])


def test_versions_are_read_once_per_process(sandbox: Sandbox, tmp_path: Path) -> None:
    calls: Counter[str] = Counter()

    def hook(request: httpx.Request) -> None:
        calls[request.url.path] += 1

    for _ in range(3):
        crm = build_crm(_cfg(sandbox, tmp_path))
        crm._http.event_hooks["request"].append(hook)
        with crm:
            crm.limits()
            crm.limits()
    assert calls["/services/data/"] == 1
    assert calls["/services/data/v68.0/limits"] == 6


def test_doctor_prints_the_api_version_check(sandbox: Sandbox, tmp_path: Path) -> None:
    """`crmcal doctor`: the version in use, whether the org serves it, and the newest offered."""
    area, status, detail = version_check(_cfg(sandbox, tmp_path)) or ("", "", "")
    assert (area, status) == ("Salesforce API version", "ok")
    assert detail == "Salesforce API v68.0 in use (served by the org); newest offered: v68.0"
    _a, status, detail = version_check(_cfg(sandbox, tmp_path, "62.0")) or ("", "", "")
    assert (
        status == "ok" and 'a newer version is available: salesforce.api_version = "68.0"' in detail
    )
    _a, status, detail = version_check(_cfg(sandbox, tmp_path, "69.0")) or ("", "", "")
    assert status == "fail" and "v69.0 in use (NOT served by the org)" in detail

    f = tmp_path / "crmcal.toml"
    f.write_text(
        f"""
[storage]
data_dir = "{tmp_path.as_posix()}"

[salesforce]
login_url = "{sandbox.salesforce_url}"
auth = "client_credentials"
client_id = "{sandbox.sf_client_id}"
client_secret = "{sandbox.sf_secret}"
api_version = "67.0"
"""
    )
    checks = {c.area: c for c in run_checks(f)}
    assert checks["Salesforce API version"].status == "ok"
    out = CliRunner().invoke(app, ["doctor", "-c", str(f)]).output
    assert "Salesforce API v67.0 in use" in out and "newest offered: v68.0" in out
    assert sandbox.sf_secret not in out


def test_client_default_matches_config_default() -> None:
    assert SalesforceClient.__init__.__kwdefaults__["api_version"] == SalesforceConfig().api_version
