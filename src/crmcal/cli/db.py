"""`crmcal db upgrade|downgrade|status`."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from crmcal.cli._shared import ConfigOption, _load, console, db_app
from crmcal.cli.doctor import _safe_url
from crmcal.state import StateStore


@db_app.command("upgrade")
def db_upgrade(
    config: ConfigOption = None,
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Create or upgrade the state store's schema."""
    cfg = _load(config)
    with StateStore(cfg.storage.url()) as store:
        store.migrate(revision)
        console.print(f"state store at revision {store.current_revision()}")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. `base` or `0001`.")],
    config: ConfigOption = None,
) -> None:
    """Downgrade the state store's schema (for rolling back a release)."""
    cfg = _load(config)
    with StateStore(cfg.storage.url()) as store:
        store.downgrade(revision)
        console.print(f"state store at revision {store.current_revision() or 'base'}")


@db_app.command("status")
def db_status(config: ConfigOption = None) -> None:
    """Print the schema revision and the newest one."""
    cfg = _load(config)
    with StateStore(cfg.storage.url()) as store:
        status = {"current": store.current_revision(), "head": store.head_revision()}
    print(json.dumps({"url": _safe_url(cfg.storage.url()), **status}))
