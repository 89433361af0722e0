"""What the `crmcal` commands share: the Typer app, the consoles, `--config` and loading it.

The command modules (`doctor`, `configuration`, `db`, `sessions`, `service`, `web`) import from
here and never from each other or from `crmcal.cli` itself, so nothing imports in a circle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from crmcal.config import Config, ConfigError, load_config

app = typer.Typer(
    name="crmcal",
    help="Keep Microsoft 365 calendars and Salesforce Events in sync, for every user of an org.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
db_app = typer.Typer(help="State store schema: upgrade, downgrade, status.", no_args_is_help=True)
config_app = typer.Typer(help="Show and check the configuration.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")

console = Console()
err_console = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML configuration file (default: $CRMCAL_CONFIG, else ./crmcal.toml if present).",
        show_default=False,
    ),
]


def _load(config: Path | None) -> Config:
    try:
        return load_config(config)
    except ConfigError as exc:
        err_console.print(f"[bold red]{exc}[/]", highlight=False)
        raise typer.Exit(2) from None
