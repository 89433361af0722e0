"""The `crmcal` command (Typer + Rich).

Only commands that work are listed. A package so that no command module imports in a circle:
`_shared` holds the app, the consoles and `--config`; each command group is one module that
registers on it (`doctor`, `configuration`, `db`, `sessions`, `service`, `web`). Nothing
outside `crmcal.cli` imports it (an import-linter contract in pyproject.toml).
"""

from __future__ import annotations

from crmcal.cli import configuration, db, doctor, service, sessions, web
from crmcal.cli._shared import ConfigOption, _load, app, console, err_console
from crmcal.cli.doctor import Check, Status, run_checks

service.register(app)  # run, worker, beat (issue 10)
web.register(app)  # serve, users (issue 8)

__all__ = [
    "Check",
    "ConfigOption",
    "Status",
    "_load",
    "app",
    "configuration",
    "console",
    "db",
    "doctor",
    "err_console",
    "main",
    "run_checks",
    "sessions",
]


def main() -> None:
    app()


if __name__ == "__main__":
    main()
