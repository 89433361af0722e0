"""Issue 19: the CLI's tables stay whole when piped (not cut to 80 columns), and `--json` gives
scripts one JSON document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crmcal.cli import app
from crmcal.cli._shared import PIPED_WIDTH, make_console

LONG = "a-rather-long-dashboard-account-name-for-testing@sales-team.contoso.example"


def _cfg(tmp_path: Path) -> Path:
    cfg = tmp_path / "crmcal.toml"
    cfg.write_text(f'[storage]\ndata_dir = "{tmp_path.as_posix()}"\n', encoding="utf-8")
    return cfg


def test_piped_console_is_wide_and_plain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    c = make_console()  # pytest captures stdout: not a terminal
    assert c.width == PIPED_WIDTH and c.color_system is None
    monkeypatch.setenv("COLUMNS", "100")
    assert make_console().width == 100  # an explicit width wins


def test_users_list_is_not_cut_when_piped_and_has_json(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    run = CliRunner().invoke
    r = run(app, ["users", "add", LONG, "--admin", "--password", "long-enough-1", "-c", str(cfg)])
    assert r.exit_code == 0, r.output
    r = run(app, ["users", "list", "-c", str(cfg)])
    assert r.exit_code == 0
    assert any(LONG in line and "admin" in line for line in r.output.splitlines()), r.output
    r = run(app, ["users", "list", "--json", "-c", str(cfg)])
    assert json.loads(r.output) == [{"account": LONG, "is_admin": True, "mailbox": None}]


def test_doctor_json(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["doctor", "--json", "-c", str(_cfg(tmp_path))])
    rows = json.loads(r.output)
    assert rows and {"check", "status", "detail"} == set(rows[0])
    assert r.exit_code == (1 if any(x["status"] == "fail" for x in rows) else 0)
