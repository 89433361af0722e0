"""`crmcal sync` with `logging.json = true`: its log lines are JSON objects, with no secret (Y1)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crmcal.cli import app
from crmcal.sandbox.runtime import write_config_toml

from .conftest import World

ANA = "ana@contoso.example"
MARIA = "maria@fabrikam.example"


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize("json_lines", [True, False])
def test_Y1_sync_command_log_lines_follow_logging_json(
    world: World, tmp_path: Path, restore_root: None, json_lines: bool
) -> None:
    world.person(ANA)
    world.contact(MARIA, "Gomez")
    world.meeting(ANA, "Logged", (MARIA,))
    cfg_file = tmp_path / "sandbox.toml"
    write_config_toml(world.config(), cfg_file)
    with cfg_file.open("a", encoding="utf-8") as f:
        f.write(f'\n[logging]\nlevel = "DEBUG"\njson = {str(json_lines).lower()}\n')
    before = list(logging.getLogger().handlers)
    result = CliRunner().invoke(app, ["sync", "--config", str(cfg_file)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert logging.getLogger().handlers == before  # the command's handler went with it
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    if not json_lines:  # the key off: `crmcal sync` configures no log handler, as before
        assert not any(line.startswith("{") for line in lines), lines
        return
    records = [json.loads(line) for line in lines]
    assert records, "DEBUG logging of a whole session writes lines"
    assert all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    assert any(r["logger"].startswith("httpx") for r in records)
    for secret in (world.sb.graph_secret, world.sb.sf_secret):
        assert secret not in result.stderr
