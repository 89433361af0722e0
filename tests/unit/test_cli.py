"""The `crmcal` command: help, doctor, config and db commands as a person runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crmcal.cli import app, run_checks

runner = CliRunner()


def _config(tmp_path: Path, extra: str = "") -> Path:
    f = tmp_path / "crmcal.toml"
    f.write_text(
        f"""
[storage]
data_dir = "{tmp_path.as_posix()}"

[graph]
tenant_id = "t-1"
client_id = "app-1"
client_secret = "graph-S3CRET"

[org]
internal_domains = ["contoso.example"]

[[users]]
mailbox = "ann@contoso.example"
salesforce_user_id = "005000000000001AAA"
{extra}"""
    )
    return f


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for cmd in ("doctor", "db", "config", "version"):
        assert cmd in result.output


def test_doctor_reports_empty_store_then_ok_after_upgrade(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    checks = {c.area: c for c in run_checks(cfg)}
    assert checks["configuration"].status == "ok"
    assert checks["Microsoft Graph"].status == "ok"
    assert checks["Salesforce"].status == "warn"
    assert checks["state store"].status == "warn"
    assert "crmcal db upgrade" in checks["state store"].detail
    assert not (tmp_path / "crmcal.db").exists(), "doctor must not create the store"

    up = runner.invoke(app, ["db", "upgrade", "-c", str(cfg)])
    assert up.exit_code == 0, up.output
    checks = {c.area: c for c in run_checks(cfg)}
    assert checks["state store"].status == "ok"

    result = runner.invoke(app, ["doctor", "-c", str(cfg)])
    assert result.exit_code == 0
    assert "state store" in result.output and "ok" in result.output
    assert "graph-S3CRET" not in result.output


def test_doctor_fails_on_bad_config_naming_the_key(tmp_path: Path) -> None:
    cfg = _config(tmp_path, "[users.settings]\nautoshare_meetings = 'perhaps'\n")
    result = runner.invoke(app, ["doctor", "-c", str(cfg)])
    assert result.exit_code == 1
    assert "users[0].settings.autoshare_meetings" in result.output


def test_doctor_fails_when_secret_missing(tmp_path: Path) -> None:
    cfg = _config(tmp_path, '\n[salesforce]\nclient_id = "3MVG"\nauth = "jwt"\n')
    checks = {c.area: c for c in run_checks(cfg)}
    assert checks["Salesforce"].status == "fail"
    assert "private_key" in checks["Salesforce"].detail


def test_config_check_exit_code_2_and_key(tmp_path: Path) -> None:
    cfg = _config(tmp_path, "[org]\n")  # a second [org] table: invalid TOML
    result = runner.invoke(app, ["config", "check", "-c", str(cfg)])
    assert result.exit_code == 2
    assert "not valid TOML" in result.output


def test_Y1_config_show_masks_secrets(tmp_path: Path) -> None:
    result = runner.invoke(app, ["config", "show", "-c", str(_config(tmp_path))])
    assert result.exit_code == 0
    assert "graph-S3CRET" not in result.output
    assert "**********" in result.output


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_db_upgrade_status_downgrade(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    cfg = _config(tmp_path)
    env = {}
    if backend == "postgres":
        env["CRMCAL_STORAGE__DATABASE_URL"] = request.getfixturevalue("postgres_url")
    assert runner.invoke(app, ["db", "upgrade", "-c", str(cfg)], env=env).exit_code == 0
    status = json.loads(runner.invoke(app, ["db", "status", "-c", str(cfg)], env=env).output)
    assert status["current"] == status["head"] is not None
    down = runner.invoke(app, ["db", "downgrade", "base", "-c", str(cfg)], env=env)
    assert down.exit_code == 0 and "base" in down.output


def test_docs_configuration_md_is_current() -> None:
    """docs/configuration.md is generated from the code; regenerate with
    `uv run crmcal config reference > docs/configuration.md`."""
    from crmcal.config import reference_markdown

    doc = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
    assert doc.read_text(encoding="utf-8").strip() == reference_markdown().strip()
