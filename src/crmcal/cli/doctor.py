"""`crmcal version` and `crmcal doctor`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table

from crmcal import __version__
from crmcal.cli._shared import ConfigOption, JsonOption, app, console, print_json
from crmcal.config import Config, ConfigError, load_config
from crmcal.state import StateStore


@app.command()
def version() -> None:
    """Print crmcal's version."""
    console.print(f"crmcal {__version__}")


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
    checks += _exchange_checks(cfg)
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
    from crmcal.service.sf_version import version_check  # issue 17: served API versions

    if (v := version_check(cfg)) is not None:
        checks.append(Check(v[0], Status(v[1]), v[2]))

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


def _exchange_checks(cfg: Config) -> list[Check]:
    """Issue 20: reach the EWS URL, check its certificate, the credentials and impersonation of
    the first EWS user's mailbox; name what is wrong."""
    ex = cfg.exchange
    if not ex.uses_ews:
        return []
    from crmcal.connectors.ews.probe import probe
    from crmcal.service.runner import build_ews

    on_ews = [
        u.mailbox
        for u in cfg.users
        if u.enabled and ex.overrides().get(u.mailbox, ex.backend.value) == "ews"
    ]
    if not on_ews:
        return [Check("EWS", Status.WARN, "no enabled user is on EWS: nothing to probe")]
    client = build_ews(cfg)
    try:
        found = probe(client, on_ews[0], ca_bundle=str(ex.ca_bundle) if ex.ca_bundle else None)
    finally:
        client.close()
    return [Check(p.area, Status.OK if p.ok else Status.FAIL, p.detail) for p in found]


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
def doctor(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Check the configuration and the state store, and print what is fine and what is not."""
    checks = run_checks(config)
    if as_json:
        print_json(
            [{"check": c.area, "status": c.status.value, "detail": c.detail} for c in checks]
        )
        if any(c.status is Status.FAIL for c in checks):
            raise typer.Exit(1)
        return
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
