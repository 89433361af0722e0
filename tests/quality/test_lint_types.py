"""ruff and mypy (strict on src/) are part of the test run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


def _tool(name: str) -> str:
    exe = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if exe is None:
        pytest.fail(f"{name} is not installed in the environment (uv sync installs it)")
    return exe


PATHS = [p for p in ("src", "tests", "benchmarks") if (ROOT / p).is_dir()]


def test_ruff_lint() -> None:
    r = _run(_tool("ruff"), "check", *PATHS)
    assert r.returncode == 0, r.stdout + r.stderr


def test_ruff_format() -> None:
    r = _run(_tool("ruff"), "format", "--check", *PATHS)
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_strict_src() -> None:
    r = _run(_tool("mypy"))
    assert r.returncode == 0, r.stdout + r.stderr
