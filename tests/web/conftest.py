from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.conftest import (
    World,
    calendar_backend,  # noqa: F401 - the fixture, re-exported (issue 20's backends)
    world,  # noqa: F401 - the fixture, re-exported
)
from tests.web._support import Dash, make_world_users, serve


@pytest.fixture
def dash(world: World) -> Iterator[Dash]:  # noqa: F811
    make_world_users(world)
    with serve(world) as d:
        yield d
