from __future__ import annotations

from tests.integration.conftest import world  # noqa: F401 - the fixture, re-exported
