"""Scale-out tests: the integration World (both emulators over HTTP) plus service helpers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from crmcal.sandbox.runtime import Sandbox
from crmcal.service import celery_app as ca
from crmcal.service.leases import Leases
from crmcal.state import StateStore
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


@contextmanager
def eager_runtime(world: World) -> Iterator[ca._Runtime]:
    """The Celery runtime over this world's configuration, tasks run eagerly in this process
    (no broker): what the cycle and session tasks do, without the transport."""
    cfg = world.config()
    cfg = cfg.model_copy(
        update={"celery": cfg.celery.model_copy(update={"broker_url": "memory://"})}
    )
    ca.configure(cfg)
    ca.app.conf.task_always_eager = True
    world.store = StateStore(cfg.storage.url())
    world.store.migrate()
    rt = ca._Runtime(cfg, world.store, world.calendar, world.crm, Leases(world.store))
    ca._Runtime._instance = rt
    try:
        yield rt
    finally:
        ca._Runtime._instance = None
        ca._Runtime.configured = None
        ca.app.conf.task_always_eager = False
