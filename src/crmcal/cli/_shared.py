"""What the `crmcal` commands share: the Typer app, the consoles, `--config` and loading it.

The command modules (`doctor`, `configuration`, `db`, `sessions`, `service`, `web`) import from
here and never from each other or from `crmcal.cli` itself, so nothing imports in a circle.
"""

from __future__ import annotations

import json
import os
import sys
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

PIPED_WIDTH = 240
"""Columns of the tables when output goes to a pipe or a file (issue 19: not cut to 80)."""


def make_console(*, stderr: bool = False) -> Console:
    """A console as wide as the terminal; when piped, `$COLUMNS` or `PIPED_WIDTH` columns and no
    colour codes, so `crmcal sync | less` and `> file` keep whole rows."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty() or os.environ.get("COLUMNS"):
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=PIPED_WIDTH, color_system=None)


console = make_console()
err_console = make_console(stderr=True)

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON (one document) instead of a table, for scripts.")
]


def print_json(value: object) -> None:
    """One JSON document on stdout, with nothing else (no progress bars, no colour)."""
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


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


def setup_logging(cfg: Config) -> None:
    """`crmcal.logs` for this command (text, or JSON with `logging.json`; secrets masked, Y1).

    Taken off again when the command ends, so an in-process caller (a test's CliRunner, say)
    keeps its own logging and no handler outlives the stream it writes to."""
    import importlib
    import importlib.util
    import logging

    from crmcal.logs import configure_logging

    root = logging.getLogger()
    level = root.level
    handler = configure_logging(cfg)

    def undo() -> None:
        root.removeHandler(handler)
        root.setLevel(level)

    # Typer >= 0.17 runs on its own copy of click: ask that one for the command's context.
    mod = "typer._click.globals" if importlib.util.find_spec("typer._click") else "click.globals"
    ctx = importlib.import_module(mod).get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(undo)
