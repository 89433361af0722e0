"""Y1: secrets never reach logs or error messages, also when things go wrong.

Failing runs of every kind (refused credentials on either side, 5xx outages, expired tokens, an
internal error in the engine, a failing `crmcal sync` process) run with every logger at DEBUG;
then the logs, the exceptions, the issue messages, the sessions' error fields and the CLI's
output are scanned for the client secrets, the private key and every access token the emulators
issued during the run."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from crmcal.connectors.graph.client import GraphClient
from crmcal.connectors.retry import RetryPolicy
from crmcal.connectors.salesforce import SalesforceClient
from crmcal.sandbox.runtime import write_config_toml
from crmcal.service.runner import run_sync
from crmcal.state import StateStore
from tests.integration.conftest import World

ANA = "ana@contoso.example"
MARIA = "maria@fabrikam.example"
NO_WAIT = RetryPolicy(max_attempts=2, sleep=lambda _s: None)


def secrets_of(world: World) -> dict[str, str]:
    sb = world.sb
    found = {"graph client secret": sb.graph_secret, "salesforce client secret": sb.sf_secret}
    for i, tok in enumerate(sb.graph.tokens):
        found[f"graph access token {i}"] = tok
    for i, tok in enumerate(sb.salesforce.tokens):
        found[f"salesforce access token {i}"] = tok
    return {k: v for k, v in found.items() if len(v) >= 12}


def assert_clean(texts: list[str], secrets: dict[str, str]) -> None:
    blob = "\n".join(texts)
    leaked = [name for name, value in secrets.items() if value in blob]
    assert not leaked, f"Y1: {leaked} found in logs or messages"


def _org(world: World) -> None:
    world.person(ANA, autoshare_meetings=True)
    world.contact(MARIA, "Gomez")
    world.meeting(ANA, "Review", (MARIA,))


def _clients(
    world: World, graph_secret: str, sf_secret: str
) -> tuple[GraphClient, SalesforceClient]:
    cfg = world.config()
    g, sf = cfg.graph, cfg.salesforce
    cal = GraphClient(
        tenant_id=g.tenant_id,
        client_id=g.client_id,
        client_secret=graph_secret,
        authority_url=g.authority_url,
        graph_url=g.graph_url,
        retry=NO_WAIT,
    )
    crm = SalesforceClient(login_url=sf.login_url, client_id=sf.client_id, auth=sf.auth.value,
                           client_secret=sf_secret, retry=NO_WAIT)  # fmt: skip
    return cal, crm


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    loggers = [logging.getLogger(n) for n in ("crmcal", "httpx", "httpcore", "msal", "urllib3")]
    levels = [lg.level for lg in loggers]
    caplog.set_level(logging.DEBUG)
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    yield caplog
    for lg, level in zip(loggers, levels, strict=True):
        lg.setLevel(level)


def test_Y1_failing_sessions_leak_no_secret(
    world: World, debug_logs: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Y1: refused credentials, outages, expired tokens and an internal error, logged at DEBUG."""
    _org(world)
    cfg = world.config()
    store = StateStore(cfg.storage.url())
    store.migrate()
    world.store = store
    texts: list[str] = []
    good_g, good_s = world.sb.graph_secret, world.sb.sf_secret

    def cycle(cal: GraphClient, crm: SalesforceClient) -> None:
        try:
            for r in run_sync(cfg, store=store, calendar=cal, crm=crm, now=world.now):
                texts.append(str(r.error))
        except Exception as exc:  # what an operator would see of a failed cycle
            texts.append(f"{type(exc).__name__}: {exc!r} {exc}")
        finally:
            cal.close()
            crm.close()

    cycle(*_clients(world, good_g, good_s))  # a good run first: real tokens exist
    seen = secrets_of(world)  # before expiry forgets them
    cycle(*_clients(world, "wrong-" + good_g, good_s))  # Graph refuses the secret
    cycle(*_clients(world, good_g, "wrong-" + good_s))  # Salesforce refuses the secret
    world.sb.graph.faults.fail_next = 50
    world.sb.salesforce.faults.fail_next = 50
    cycle(*_clients(world, good_g, good_s))  # outages
    world.sb.graph.faults.fail_next = 0
    world.sb.salesforce.faults.fail_next = 0
    httpx.post(f"{world.sb.graph_url}/_sandbox/tokens/expire").raise_for_status()
    httpx.post(f"{world.sb.salesforce_url}/_sandbox/tokens/expire").raise_for_status()
    cycle(*_clients(world, good_g, good_s))  # expired tokens, renewed

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("a bug in the planner")

    monkeypatch.setattr("crmcal.sync.session.plan", boom)
    world.meeting(ANA, "Another", (MARIA,), days=2)
    cycle(*_clients(world, good_g, good_s))  # an internal error
    texts.append(debug_logs.text)
    texts += [f"{i.reason} {i.message}" for i in store.open_issues()]
    texts += [f"{s.status} {s.error} {s.stats}" for s in store.recent_sessions(limit=100)]
    assert "a bug in the planner" in "\n".join(texts)  # the failures did happen and were seen
    assert any("401" in t or "invalid_client" in t for t in texts)
    secrets = {**seen, **{f"later {k}": v for k, v in secrets_of(world).items()}}
    assert len(secrets) >= 4, secrets.keys()
    assert_clean(texts, secrets)


def test_Y1_failing_cli_runs_print_no_secret(world: World, tmp_path: Path) -> None:
    """Y1: `crmcal sync` output when Salesforce refuses the secret, and when an unexpected
    exception ends the process (its traceback must not show the locals holding tokens)."""
    _org(world)
    toml = tmp_path / "crmcal.toml"
    cfg = world.config()
    write_config_toml(cfg, toml)
    run = [sys.executable, "-c"]
    env = {"COLUMNS": "200", "PATH": "/usr/bin:/bin", "NO_COLOR": "1"}
    crash = (
        "import httpx\norig = httpx.Client.send\nn = [0]\n"
        "def send(self, req, **kw):\n    n[0] += 1\n"
        "    if n[0] > 4:\n        raise RuntimeError('unexpected')\n"
        "    return orig(self, req, **kw)\n"
        "httpx.Client.send = send\nfrom crmcal.cli import main; main()"
    )
    crashed = subprocess.run([*run, crash, "sync", "--config", str(toml)], capture_output=True,
                             text=True, env=env, timeout=120)  # fmt: skip
    assert crashed.returncode != 0 and "unexpected" in crashed.stdout + crashed.stderr
    bad = toml.read_text(encoding="utf-8").replace(world.sb.sf_secret, "not-the-secret")
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text(bad, encoding="utf-8")
    refused = subprocess.run([*run, "from crmcal.cli import main; main()", "sync", "--config",
                              str(bad_toml)], capture_output=True, text=True, env=env,
                             timeout=120)  # fmt: skip
    assert refused.returncode != 0
    outputs = [p.stdout + p.stderr for p in (crashed, refused)]
    assert_clean(outputs, secrets_of(world))
