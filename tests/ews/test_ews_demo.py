"""`crmcal demo --calendar ews`: the same 16 situations and changes, on Exchange Server."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from crmcal.cli import app
from crmcal.service.demo import run_demo


def test_demo_on_ews_is_correct_and_idempotent(tmp_path: Path) -> None:
    report = run_demo(tmp_path / "d", calendar_backend="ews")
    assert [c.item.key for c in report.checks if not c.ok] == []
    assert [c.what for c in report.changes if not c.ok] == []
    assert report.idle_writes == 0 and report.ok
    assert len(report.checks) == 16


def test_demo_command_with_calendar_ews_exits_0(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["demo", "--calendar", "ews", "--data-dir", str(tmp_path / "c")])
    assert r.exit_code == 0, r.output
    assert "WRONG" not in r.output and "API calls in all: EWS" in r.output
