"""`crmcal doctor` on an EWS org: URL, certificate, credentials, impersonation (issue 20)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crmcal.cli.doctor import Status, run_checks
from crmcal.domain import UserConfig
from crmcal.sandbox.runtime import Sandbox, write_config_toml

ANA = "ana@contoso.example"


@pytest.fixture(scope="module")
def sb() -> Any:
    with Sandbox() as s:
        s.ews.add_mailbox(ANA)
        s.ews.add_account(
            "CONTOSO\\no-role", "pw-no-role", "no-role@contoso.example", impersonation=False
        )
        yield s


def checks(sb: Sandbox, tmp: Path, edit: Any = None) -> dict[str, tuple[Status, str]]:
    user = UserConfig(mailbox=ANA, salesforce_user_id="005000000000001AAA")
    cfg = sb.config(data_dir=tmp, users=(user,), calendar="ews")
    path = tmp / "crmcal.toml"
    write_config_toml(cfg, path)
    if edit:
        path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    from exchangelib.protocol import close_connections

    close_connections()
    return {c.area: (c.status, c.detail) for c in run_checks(path) if c.area.startswith("EWS")}


def test_all_well(sb: Sandbox, tmp_path: Path) -> None:
    got = checks(sb, tmp_path)
    assert {k: v[0] for k, v in got.items()} == {
        "EWS URL": Status.OK,
        "EWS certificate": Status.OK,
        "EWS credentials": Status.OK,
        "EWS impersonation": Status.OK,
    }


def test_untrusted_certificate_is_named(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # tests/conftest.py trusts the sandbox CA through the environment for raw test clients;
    # requests (under exchangelib) would honour it, so take it away: only the setting counts.
    for var in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)
    got = checks(
        sb,
        tmp_path,
        lambda t: "\n".join(ln for ln in t.splitlines() if not ln.startswith("ca_bundle")),
    )
    assert got["EWS certificate"][0] is Status.FAIL
    assert "exchange.ca_bundle" in got["EWS certificate"][1]


def test_refused_credentials_are_named(sb: Sandbox, tmp_path: Path) -> None:
    got = checks(sb, tmp_path, lambda t: t.replace(f'"{sb.ews_password}"', '"wrong"'))
    assert got["EWS credentials"][0] is Status.FAIL


def test_missing_impersonation_role_is_named_with_the_command(sb: Sandbox, tmp_path: Path) -> None:
    def edit(t: str) -> str:
        t = t.replace(f'"{sb.ews_password}"', '"pw-no-role"')
        return t.replace('"CONTOSO\\\\svc-crmcal"', '"CONTOSO\\\\no-role"')

    got = checks(sb, tmp_path, edit)
    assert got["EWS credentials"][0] is Status.OK
    assert got["EWS impersonation"][0] is Status.FAIL
    assert "ApplicationImpersonation" in got["EWS impersonation"][1]


def test_unreachable_url_is_named(sb: Sandbox, tmp_path: Path) -> None:
    got = checks(
        sb, tmp_path, lambda t: t.replace(sb.ews_url, "https://127.0.0.1:9/EWS/Exchange.asmx")
    )
    assert got["EWS URL"][0] is Status.FAIL
