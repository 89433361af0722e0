"""`crmcal serve` and `crmcal users ...` (registered by crmcal.cli)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from crmcal.cli._shared import JsonOption, _load, make_console, print_json, setup_logging

console = make_console()
err_console = make_console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML configuration file.", show_default=False),
]


def register(app: typer.Typer) -> None:
    users_app = typer.Typer(help="Dashboard accounts: add, list, API tokens.", no_args_is_help=True)
    app.add_typer(users_app, name="users")

    def load(config: Path | None) -> object:
        return _load(config)

    @app.command()
    def serve(
        config: ConfigOption = None,
        host: Annotated[str | None, typer.Option(help="Listen address (server.host).")] = None,
        port: Annotated[int | None, typer.Option(help="Port (server.port).")] = None,
    ) -> None:
        """Run the dashboard and HTTP API (and, with org.instant_sync, the Graph webhooks)."""
        import uvicorn

        from crmcal.config import Config
        from crmcal.web.app import create_app

        cfg = load(config)
        assert isinstance(cfg, Config)
        h = host or cfg.server.host
        p = port or cfg.server.port
        public = cfg.server.public_url or f"http://{h}:{p}"
        app_ = create_app(cfg, public_url=public)
        console.print(f"crmcal dashboard on http://{h}:{p} (public URL {public})")
        if cfg.logging.json_format:  # uvicorn's loggers then reach the root's JSON handler
            setup_logging(cfg)
            uvicorn.run(app_, host=h, port=p, log_config=None, access_log=False)
            return
        uvicorn.run(app_, host=h, port=p, log_level="info", access_log=False)

    @users_app.command("add")
    def users_add(
        username: Annotated[str, typer.Argument(help="Sign-in name (an e-mail for users).")],
        config: ConfigOption = None,
        admin: Annotated[
            bool, typer.Option("--admin", help="Sees and acts on everything.")
        ] = False,
        mailbox: Annotated[
            str | None, typer.Option(help="The crmcal user this account is (default: username).")
        ] = None,
        password: Annotated[
            str | None,
            typer.Option(help="Password (asked for when not given).", show_default=False),
        ] = None,
    ) -> None:
        """Add a local account (or change its password and role)."""
        from crmcal.config import Config
        from crmcal.state import StateStore
        from crmcal.web import accounts

        cfg = load(config)
        assert isinstance(cfg, Config)
        mb = (mailbox or ("" if admin else username)).strip().lower() or None
        if mb is not None and cfg.user(mb) is None:
            err_console.print(f"[red]{mb} is not a user in the configuration[/]")
            raise typer.Exit(2)
        pw = password or typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        with StateStore(cfg.storage.url()) as store:
            store.migrate()
            try:
                p = accounts.add_account(store, username, password=pw, is_admin=admin, mailbox=mb)
            except ValueError as exc:
                err_console.print(f"[red]{exc}[/]")
                raise typer.Exit(2) from None
        console.print(f"account {p.username} ({'admin' if p.is_admin else p.mailbox}) saved")

    @users_app.command("list")
    def users_list(config: ConfigOption = None, as_json: JsonOption = False) -> None:
        """List the dashboard accounts."""
        from crmcal.config import Config
        from crmcal.state import StateStore
        from crmcal.web import accounts

        cfg = load(config)
        assert isinstance(cfg, Config)
        with StateStore(cfg.storage.url()) as store:
            store.migrate()
            rows = accounts.list_accounts(store)
        if as_json:
            print_json(
                [
                    {"account": r.username, "is_admin": r.is_admin, "mailbox": r.mailbox}
                    for r in rows
                ]
            )
            return
        t = Table("account", "role", "mailbox")
        for r in rows:
            t.add_row(r.username, "admin" if r.is_admin else "user", r.mailbox or "")
        console.print(t)

    @users_app.command("token")
    def users_token(username: str, config: ConfigOption = None) -> None:
        """Make a new API token for an account (printed once; the old one stops working)."""
        from crmcal.config import Config
        from crmcal.state import StateStore
        from crmcal.web import accounts

        cfg = load(config)
        assert isinstance(cfg, Config)
        with StateStore(cfg.storage.url()) as store:
            store.migrate()
            try:
                token = accounts.issue_token(store, username)
            except KeyError:
                err_console.print(f"[red]no account {username}[/]")
                raise typer.Exit(2) from None
        print(token)
