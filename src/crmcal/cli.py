"""The `crmcal` command (Typer + Rich).

Only commands that work are listed; later parts of the product add theirs (`run`, `serve`,
`worker`, `beat`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from crmcal import __version__
from crmcal.config import Config, ConfigError, load_config
from crmcal.domain import OrgSettings, UserConfig
from crmcal.state import StateStore
from crmcal.sync.session import SessionResult

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


@app.command()
def version() -> None:
    """Print crmcal's version."""
    console.print(f"crmcal {__version__}")


# -- doctor ------------------------------------------------------------------------------------


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Check:
    area: str
    status: Status
    detail: str


def run_checks(config_path: Path | None) -> list[Check]:
    """Everything `crmcal doctor` looks at; pure of printing so tests can call it."""
    checks: list[Check] = []
    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        for key, msg in exc.problems:
            checks.append(Check(f"config: {key}", Status.FAIL, msg))
        return checks
    src = str(config_path) if config_path else "defaults and environment"
    checks.append(Check("configuration", Status.OK, f"valid ({src})"))

    if cfg.org.internal_domains:
        checks.append(Check("internal domains", Status.OK, ", ".join(cfg.org.internal_domains)))
    else:
        checks.append(
            Check(
                "internal domains",
                Status.WARN,
                "none set: every address counts as external (set org.internal_domains)",
            )
        )
    enabled = [u for u in cfg.users if u.enabled]
    checks.append(
        Check(
            "users",
            Status.OK if enabled else Status.WARN,
            f"{len(enabled)} enabled of {len(cfg.users)}" if cfg.users else "no users configured",
        )
    )
    outside = [u.mailbox for u in cfg.users if not cfg.org.is_internal(u.mailbox)]
    if outside and cfg.org.internal_domains:
        checks.append(
            Check(
                "user mailboxes",
                Status.WARN,
                "not in an internal domain: " + ", ".join(outside[:5]),
            )
        )

    g = cfg.graph
    if g.configured:
        has_secret = g.secret() is not None
        checks.append(
            Check(
                "Microsoft Graph",
                Status.OK if has_secret else Status.FAIL,
                f"tenant {g.tenant_id}, app {g.client_id}, {g.graph_url}"
                + ("" if has_secret else ": no client secret (graph.client_secret[_file])"),
            )
        )
    else:
        checks.append(
            Check("Microsoft Graph", Status.WARN, "not configured (graph.tenant_id, client_id)")
        )
    from crmcal.sync.groups import doctor_check  # G2: delegated permission for group calendars

    if (g2 := doctor_check(cfg)) is not None:
        checks.append(Check(g2[0], Status.OK if g2[1] == "ok" else Status.FAIL, g2[2]))
    sf = cfg.salesforce
    if sf.configured:
        if sf.auth == "jwt":
            ok = bool(sf.username) and sf.key() is not None
            need = "salesforce.username and private_key[_file]"
        else:
            ok = sf.secret() is not None
            need = "salesforce.client_secret[_file]"
        checks.append(
            Check(
                "Salesforce",
                Status.OK if ok else Status.FAIL,
                f"{sf.auth} via {sf.login_url}, API v{sf.api_version}"
                + ("" if ok else f": missing {need}"),
            )
        )
    else:
        checks.append(Check("Salesforce", Status.WARN, "not configured (salesforce.client_id)"))

    url = cfg.storage.url()
    safe_url = _safe_url(url)
    sqlite_file = _sqlite_file(url)
    if sqlite_file is not None and not sqlite_file.exists():
        checks.append(
            Check(
                "state store", Status.WARN, f"{safe_url} not created yet: run `crmcal db upgrade`"
            )
        )
        return checks
    store = StateStore(url)
    try:
        current, head = store.current_revision(), store.head_revision()
        if current == head:
            checks.append(Check("state store", Status.OK, f"{safe_url} at revision {head}"))
        elif current is None:
            checks.append(
                Check("state store", Status.WARN, f"{safe_url} is empty: run `crmcal db upgrade`")
            )
        else:
            checks.append(
                Check(
                    "state store",
                    Status.WARN,
                    f"{safe_url} at {current}, newest is {head}: run `crmcal db upgrade`",
                )
            )
    except Exception as exc:  # any driver error: the point is to report it
        checks.append(Check("state store", Status.FAIL, f"{safe_url}: {type(exc).__name__}: {exc}"))
    finally:
        store.dispose()
    return checks


def _sqlite_file(url: str) -> Path | None:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command()
def doctor(config: ConfigOption = None) -> None:
    """Check the configuration and the state store, and print what is fine and what is not."""
    checks = run_checks(config)
    table = Table(title="crmcal doctor", show_lines=False)
    table.add_column("check", no_wrap=True)
    table.add_column("status")
    table.add_column("detail", overflow="fold")
    style = {Status.OK: "green", Status.WARN: "yellow", Status.FAIL: "bold red"}
    for c in checks:
        table.add_row(c.area, f"[{style[c.status]}]{c.status.value}[/]", c.detail)
    console.print(table)
    if any(c.status is Status.FAIL for c in checks):
        raise typer.Exit(1)


# -- config ------------------------------------------------------------------------------------


@config_app.command("show")
def config_show(config: ConfigOption = None) -> None:
    """Print the effective configuration as JSON, secrets masked."""
    cfg = _load(config)
    console.print_json(cfg.model_dump_json(by_alias=True))


@config_app.command("check")
def config_check(config: ConfigOption = None) -> None:
    """Validate the configuration; exit 2 with every bad key named when it is invalid."""
    cfg = _load(config)
    console.print(f"[green]configuration is valid[/] ({len(cfg.users)} users)")


@config_app.command("reference")
def config_reference() -> None:
    """Print the configuration reference (Markdown) generated from the code."""
    from crmcal.config import reference_markdown

    print(reference_markdown())


# -- db ----------------------------------------------------------------------------------------


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


# -- sync, demo, sandbox ---------------------------------------------------------------------


def _session_table(title: str, results: list[SessionResult]) -> Table:
    t = Table(title=title)
    cols = (
        "user",
        "status",
        "read",
        "created",
        "linked",
        "updated",
        "deleted",
        "to Outlook",
        "categories",
        "issues",
    )
    for col in cols:
        t.add_column(col, justify="left" if col in ("user", "status") else "right")
    style = {"succeeded": "green", "partial": "yellow", "failed": "bold red"}
    for r in results:
        o = r.outcome
        t.add_row(
            r.mailbox,
            f"[{style.get(r.status, 'white')}]{r.status}[/]",
            str(r.read),
            str(o.created),
            str(o.linked),
            str(o.updated),
            str(o.deleted),
            str(o.created_items + o.updated_items + o.deleted_items),
            str(o.categories),
            str(o.issues),
        )
    return t


@app.command()
def sync(
    config: ConfigOption = None,
    user: Annotated[
        list[str] | None, typer.Option("--user", "-u", help="Only this mailbox (repeatable).")
    ] = None,
    allow_mass_delete: Annotated[
        bool,
        typer.Option(help="Confirm deletions the mass-delete guard (X7) held back."),
    ] = False,
) -> None:
    """Run one session now for every user (or the ones named) and print what it did."""
    from rich.progress import Progress

    from crmcal.service.leases import Leases
    from crmcal.service.runner import build_calendar, build_crm, run_sync

    cfg = _load(config)
    store = StateStore(cfg.storage.url())
    if not store.is_current():
        store.migrate()
    calendar, crm = build_calendar(cfg), build_crm(cfg)
    n = sum(1 for u in cfg.users if u.enabled and not u.settings.paused)
    try:
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("syncing", total=len(user) if user else n)
            results = run_sync(
                cfg,
                store=store,
                calendar=calendar,
                crm=crm,
                users=user,
                progress=lambda u, _r: bar.advance(task),
                allow_mass_delete=allow_mass_delete,
                leases=Leases(store),  # O1: users a scheduler or worker is syncing are skipped
            )
    finally:
        calendar.close()
        crm.close()
        store.dispose()
    console.print(_session_table("crmcal sync", results))
    console.print(
        f"API calls: Microsoft Graph {calendar.calls.total}, Salesforce {crm.total_calls}"
    )
    if any(r.status == "failed" for r in results):
        for r in results:
            if r.error:
                err_console.print(f"[red]{r.mailbox}: {r.error}[/]")
        raise typer.Exit(1)


@app.command()
def demo(
    data_dir: Annotated[
        Path, typer.Option(help="Where the demo keeps its state (recreated each run).")
    ] = Path(".crmcal/demo"),
) -> None:
    """Start the sandbox with a seeded org, sync it, and show what happened rule by rule."""
    from rich.progress import Progress

    from crmcal.service.demo import run_demo

    console.print(
        "[bold]crmcal demo[/]: starting the Microsoft Graph and Salesforce emulators on 127.0.0.1, "
        "seeding the Contoso org (5 people, 3 customer accounts, 16 calendar situations), "
        "syncing, letting people change things, syncing again..."
    )
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("first sync", total=4)
        report = run_demo(data_dir, progress=lambda _u, _r: bar.advance(task))
    console.print(_session_table("First session (every user)", report.first))
    t = Table(title="What happened, item by item", show_lines=True)
    t.add_column("", no_wrap=True)
    t.add_column("rules", no_wrap=True)
    t.add_column("item")
    t.add_column("expected")
    t.add_column("result")
    for c in report.checks:
        mark = "[green]ok[/]" if c.ok else "[bold red]WRONG[/]"
        t.add_row(mark, " ".join(c.item.rules), c.item.subject[:48], c.item.expect, c.result)
    console.print(t)
    changes = Table(title="Then people change things; the next session does", show_lines=True)
    changes.add_column("", no_wrap=True)
    changes.add_column("rules", no_wrap=True)
    changes.add_column("change")
    changes.add_column("expected")
    changes.add_column("result")
    for ch in report.changes:
        mark = "[green]ok[/]" if ch.ok else "[bold red]WRONG[/]"
        changes.add_row(mark, " ".join(ch.rules), ch.what, ch.expect, ch.result)
    console.print(changes)
    console.print(_session_table("Second session (after the changes)", report.second))
    writes = report.idle_writes
    console.print(
        f"Third session: {writes} writes "
        + (
            "[green](nothing changed, nothing written)[/]"
            if writes == 0
            else "[red](expected 0)[/]"
        )
    )
    console.print(
        f"API calls in all: Microsoft Graph {report.graph_calls}, "
        f"Salesforce {report.salesforce_calls}."
    )
    console.print(
        f"State: {report.state_url}. Look around with `crmcal doctor`, or start the emulators "
        "yourself with `crmcal sandbox` and point `crmcal sync` at the config it writes.\n"
        "Dashboard: with `crmcal sandbox` running, `crmcal users add admin --admin -c "
        ".crmcal/sandbox.toml`, `crmcal sync -c .crmcal/sandbox.toml`, then `crmcal serve -c "
        ".crmcal/sandbox.toml` and open http://127.0.0.1:8765 (docs/dashboard.md)."
    )
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def sandbox(
    port_graph: Annotated[int, typer.Option(help="Port of the Graph emulator (0: any).")] = 0,
    port_salesforce: Annotated[int, typer.Option(help="Port of the Salesforce emulator.")] = 0,
    write_config: Annotated[
        Path, typer.Option(help="Write a crmcal config for the sandbox here.")
    ] = Path(".crmcal/sandbox.toml"),
    seed: Annotated[bool, typer.Option(help="Seed the demo org.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the details as JSON.")] = False,
) -> None:
    """Run the Microsoft Graph and Salesforce emulators on 127.0.0.1 until Ctrl-C."""
    import time

    from crmcal.sandbox.runtime import Sandbox, adding_users_help

    sb = Sandbox(port_graph=port_graph, port_salesforce=port_salesforce).start()
    try:
        users: tuple[UserConfig, ...] = ()
        org = OrgSettings()
        if seed:
            from crmcal.sandbox.seed_org import seed_demo

            d = seed_demo(sb)
            users, org = d.users, d.org
        sb.write_config(write_config, org=org, users=users)
        info = sb.describe() | {
            "config": str(write_config),
            "ca_bundle": str(write_config.parent / "sandbox-ca.pem"),
            "users": [u.mailbox for u in users],
        }
        if as_json:
            print(json.dumps(info, indent=2))
        else:
            t = Table(title="crmcal sandbox", show_header=False)
            for side in ("graph", "salesforce"):
                for k, v in info[side].items():
                    t.add_row(f"{side}.{k}", str(v))
            t.add_row("users", ", ".join(info["users"]) or "(none)")
            t.add_row("config", str(write_config))
            t.add_row("ca_bundle", info["ca_bundle"])
            console.print(t)
            if not users:
                print(adding_users_help(sb, write_config))  # plain: lines stay copy-pasteable
            console.print(f"Try: crmcal sync --config {write_config}   (Ctrl-C stops the sandbox)")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sb.stop()


def _register_service_commands() -> None:
    from crmcal.service.commands import register  # run, worker, beat (issue 10)

    register(app)


_register_service_commands()


def _register_web_commands() -> None:
    from crmcal.web.commands import register  # serve, users (issue 8)

    register(app)


_register_web_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
