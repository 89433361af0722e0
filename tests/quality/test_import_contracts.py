"""The layer contracts of pyproject.toml hold (import-linter's `lint-imports`, issue 18).

The contracts: domain below rules below sync below service/web/cli; no SQLAlchemy in rules/ or
domain/; connector internals only behind sync/ports.py in the engine; the sandbox imported only
by service/demo and cli; no web import from service; nothing imports cli. Decision 0100.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _contracts() -> list[dict[str, Any]]:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts: list[dict[str, Any]] = cfg["tool"]["importlinter"]["contracts"]
    return contracts


def test_lint_imports_keeps_every_contract() -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail("lint-imports is not installed in the environment (uv sync installs it)")
    r = subprocess.run(
        [exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"Contracts: {len(_contracts())} kept, 0 broken." in r.stdout, r.stdout


def test_no_contract_hides_a_violation_behind_an_ignore_list() -> None:
    """A contract with `ignore_imports` would be kept while broken; none may have one."""
    for c in _contracts():
        assert "ignore_imports" not in c, c["name"]
        assert c.get("unmatched_ignore_imports_alerting", "error") == "error", c["name"]


def test_the_issue_18_contracts_are_declared() -> None:
    by_type: dict[str, list[dict[str, Any]]] = {}
    for c in _contracts():
        by_type.setdefault(c["type"], []).append(c)
    (layers,) = by_type["layers"]
    assert layers["layers"][-3:] == ["crmcal.sync", "crmcal.rules", "crmcal.domain"]
    assert {"crmcal.cli", "crmcal.web", "crmcal.service"} <= set(layers["layers"][:3])
    forbidden = {
        (tuple(c["source_modules"]), tuple(c["forbidden_modules"])) for c in by_type["forbidden"]
    }
    assert any("crmcal.service" in s and "crmcal.web" in f for s, f in forbidden)
    assert any(
        {"crmcal.rules", "crmcal.domain"} <= set(s) and "sqlalchemy" in f for s, f in forbidden
    )
    protected = {
        tuple(c["protected_modules"]): c["allowed_importers"] for c in by_type["protected"]
    }
    assert protected[("crmcal.sandbox",)] == ["crmcal.service.demo", "crmcal.cli"]
    engine = protected[("crmcal.connectors.graph", "crmcal.connectors.salesforce")]
    assert [m for m in engine if m.startswith("crmcal.sync")] == ["crmcal.sync.ports"]


def test_the_pipeline_contracts_are_declared() -> None:
    """Issue 18, X7/decision 0120: the planners and the guard (item plan, series plan, the one
    X7 count, the Action union) import no SQLAlchemy and no state store, not even indirectly;
    the session pipeline runs no SQL of its own."""
    forbidden = {
        (
            tuple(c["source_modules"]),
            tuple(c["forbidden_modules"]),
            bool(c.get("allow_indirect_imports")),
        )
        for c in _contracts()
        if c["type"] == "forbidden"
    }
    pure = {"crmcal.sync.plan", "crmcal.sync.series", "crmcal.sync.guard", "crmcal.sync.actions"}
    assert any(
        pure <= set(s) and {"sqlalchemy", "crmcal.state"} <= set(f) and not indirect
        for s, f, indirect in forbidden
    )
    assert any(s == ("crmcal.sync.session",) and "sqlalchemy" in f for s, f, _ in forbidden)
