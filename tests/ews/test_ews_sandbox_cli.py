"""`crmcal sandbox --calendar ews` (issue 20): the written config puts the seeded org's mailboxes
on the EWS emulator, and `crmcal sync` with that file syncs them through EWS."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crmcal.cli import app
from crmcal.cli.sessions import prepare_sandbox
from crmcal.config import load_config
from crmcal.sandbox.runtime import Sandbox


def test_sandbox_calendar_ews_writes_a_config_that_syncs_through_ews(tmp_path: Path) -> None:
    cfg_file = tmp_path / "sandbox.toml"
    with Sandbox() as sb:
        info = prepare_sandbox(sb, cfg_file, calendar="ews")
        cfg = load_config(cfg_file)
        assert cfg.exchange.backend.value == "ews"
        assert cfg.exchange.ews_url == sb.ews_url
        assert cfg.exchange.ca_bundle == tmp_path / "sandbox-ca.pem"
        assert info["users"] and info["calendar"] == "ews"
        result = CliRunner().invoke(
            app, ["sync", "--config", str(cfg_file)], env={"COLUMNS": "200"}
        )
        assert result.exit_code == 0, result.output
        assert "succeeded" in result.output and "failed" not in result.output
        # Every crmcal user was read through EWS (one SyncFolderItems at least each), none
        # through Graph: the mailboxes are on-premises.
        assert sb.ews.calls["SyncFolderItems"] >= len(info["users"])
        assert [r for r in sb.salesforce.tables["Event"].values() if not r.get("IsDeleted")]
        assert sb.ews_password not in result.output


def test_sandbox_command_with_calendar_ews_prints_and_writes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_sleep = time.sleep

    def stop(s: float) -> None:  # the command's wait loop: Ctrl-C at once
        if s >= 3600:
            raise KeyboardInterrupt
        real_sleep(s)

    monkeypatch.setattr(time, "sleep", stop)
    cfg_file = tmp_path / "sb.toml"
    args = ["sandbox", "--calendar", "ews", "--write-config", str(cfg_file), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["calendar"] == "ews" and info["ews"]["url"].endswith("/EWS/Exchange.asmx")
    assert load_config(cfg_file).exchange.backend.value == "ews"
    graph = CliRunner().invoke(app, ["sandbox", "--write-config", str(cfg_file), "--json"])
    assert graph.exit_code == 0, graph.output
    assert load_config(cfg_file).exchange.backend.value == "graph"


def test_sandbox_calendar_must_be_graph_or_ews() -> None:
    result = CliRunner().invoke(app, ["sandbox", "--calendar", "notes"])
    assert result.exit_code == 2
    assert "must be graph or ews" in result.output
