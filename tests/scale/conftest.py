"""Scale-out tests: the integration World (both emulators over HTTP) plus service helpers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crmcal.sandbox.runtime import Sandbox
from tests.integration.conftest import DOMAIN, World

__all__ = ["DOMAIN", "World"]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with Sandbox() as sb:
        w = World(sb, tmp_path)
        try:
            yield w
        finally:
            w.close()
