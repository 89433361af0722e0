"""`crmcal sync`, `crmcal demo` and `crmcal sandbox`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from crmcal.cli._shared import (
    ConfigOption,
    JsonOption,
    _load,
    app,
    console,
    err_console,
    print_json,
    setup_logging,
)
from crmcal.domain import OrgSettings, UserConfig
from crmcal.state import StateStore
from crmcal.sync.session import SessionResult

if TYPE_CHECKING:
    from crmcal.sandbox.runtime import Sandbox


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


def _session_json(r: SessionResult) -> dict[str, object]:
    o = r.outcome
    return {
        "user": r.mailbox,
        "status": str(r.status),
        "read": r.read,
        "created": o.created,
        "linked": o.linked,
        "updated": o.updated,
        "deleted": o.deleted,
        "to_outlook": o.created_items + o.updated_items + o.deleted_items,
        "categories": o.categories,
        "issues": o.issues,
        "error": r.error,
    }


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
    as_json: JsonOption = False,
) -> None:
    """Run one session now for every user (or the ones named) and print what it did."""
    from rich.progress import Progress

    from crmcal.service.leases import Leases
    from crmcal.service.runner import build_calendar, build_crm, run_sync

    cfg = _load(config)
    if cfg.logging.json_format:  # logging.json: the session's log lines as JSON, on stderr
        setup_logging(cfg)
    store = StateStore(cfg.storage.url())
    if not store.is_current():
        store.migrate()
    calendar, crm = build_calendar(cfg), build_crm(cfg)
    n = sum(1 for u in cfg.users if u.enabled and not u.settings.paused)
    try:
        with Progress(console=console, transient=True, disable=as_json) as bar:
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
    if as_json:
        print_json(
            {
                "sessions": [_session_json(r) for r in results],
                "api_calls": {"graph": calendar.calls.total, "salesforce": crm.total_calls},
            }
        )
    else:
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
    calendar: Annotated[
        str,
        typer.Option(help="Calendar backend: graph (Exchange Online) or ews (Exchange Server)."),
    ] = "graph",
) -> None:
    """Start the sandbox with a seeded org, sync it, and show what happened rule by rule."""
    from rich.progress import Progress

    from crmcal.service.demo import run_demo

    if calendar not in ("graph", "ews"):
        raise typer.BadParameter("must be graph or ews", param_hint="--calendar")

    console.print(
        "[bold]crmcal demo[/]: starting the Microsoft Graph and Salesforce emulators on 127.0.0.1, "
        "seeding the Contoso org (5 people, 3 customer accounts, 16 calendar situations), "
        "syncing, letting people change things, syncing again..."
    )
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("first sync", total=4)
        report = run_demo(
            data_dir, progress=lambda _u, _r: bar.advance(task), calendar_backend=calendar
        )
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
        f"API calls in all: {'EWS' if calendar == 'ews' else 'Microsoft Graph'} "
        f"{report.graph_calls}, "
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


def prepare_sandbox(
    sb: Sandbox, write_config: Path, *, seed: bool = True, calendar: str = "graph"
) -> dict[str, Any]:
    """What `crmcal sandbox` does before it waits: seed the demo org, put its mailboxes on EWS
    when `calendar="ews"` (on-premises: the Graph emulator then refuses them), write the config
    and the CA; returns what it prints."""
    users: tuple[UserConfig, ...] = ()
    org = OrgSettings()
    if seed:
        from crmcal.sandbox.seed_org import seed_demo

        d = seed_demo(sb)
        users, org = d.users, d.org
        if calendar == "ews":  # the same mailboxes, on Exchange Server (as `crmcal demo`)
            sb.ews.mailboxes.update(sb.graph.mailbox(u.mailbox).key for u in users)
    sb.write_config(write_config, org=org, users=users, calendar=calendar)
    return dict(sb.describe()) | {
        "config": str(write_config),
        "ca_bundle": str(write_config.parent / "sandbox-ca.pem"),
        "calendar": calendar,
        "users": [u.mailbox for u in users],
    }


@app.command()
def sandbox(
    port_graph: Annotated[int, typer.Option(help="Port of the Graph emulator (0: any).")] = 0,
    port_salesforce: Annotated[int, typer.Option(help="Port of the Salesforce emulator.")] = 0,
    write_config: Annotated[
        Path, typer.Option(help="Write a crmcal config for the sandbox here.")
    ] = Path(".crmcal/sandbox.toml"),
    seed: Annotated[bool, typer.Option(help="Seed the demo org.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the details as JSON.")] = False,
    calendar: Annotated[
        str,
        typer.Option(
            help="Calendar backend of the written config: graph (Exchange Online) or ews "
            "(Exchange Server: the seeded mailboxes are on-premises, reached through EWS)."
        ),
    ] = "graph",
) -> None:
    """Run the Microsoft Graph, EWS and Salesforce emulators on 127.0.0.1 until Ctrl-C."""
    import time

    from crmcal.sandbox.runtime import Sandbox, adding_users_help

    if calendar not in ("graph", "ews"):
        raise typer.BadParameter("must be graph or ews", param_hint="--calendar")
    sb = Sandbox(port_graph=port_graph, port_salesforce=port_salesforce).start()
    try:
        info = prepare_sandbox(sb, write_config, seed=seed, calendar=calendar)
        users = info["users"]
        if as_json:
            print(json.dumps(info, indent=2))
        else:
            t = Table(title="crmcal sandbox", show_header=False)
            for side in ("graph", "ews", "salesforce"):
                for k, v in info[side].items():
                    t.add_row(f"{side}.{k}", str(v))
            t.add_row("calendar", calendar)
            t.add_row("users", ", ".join(users) or "(none)")
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
