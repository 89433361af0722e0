"""I2 (issue 19): every session records the API calls it spent, however it was started: the
count is taken inside `run_user_session` from the calling thread's own calls and written with
the session's closing UPDATE (no extra transaction, decision 0134)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event

from crmcal.service.runner import run_sync
from crmcal.state import StateStore
from tests.integration.conftest import World

ANA = "ana@contoso.example"
BEN = "ben@contoso.example"


def _meetings(w: World) -> None:
    for who, guest in ((ANA, "maria@fabrikam.example"), (BEN, "li@fabrikam.example")):
        w.person(who)
        w.contact(guest, guest.split("@")[0].title())
        w.meeting(who, f"Review for {who}", (guest,))


def test_i2_crmcal_sync_records_each_sessions_api_calls(world: World, tmp_path: Path) -> None:
    """`crmcal sync` (the CLI) leaves graph_calls and salesforce_calls on each session record."""
    from typer.testing import CliRunner

    from crmcal.cli import app
    from crmcal.sandbox.runtime import write_config_toml

    _meetings(world)
    cfg_file = tmp_path / "sandbox.toml"
    write_config_toml(world.config(), cfg_file)
    result = CliRunner().invoke(app, ["sync", "--config", str(cfg_file)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    from crmcal.config import load_config

    store = StateStore(load_config(cfg_file).storage.url())  # where the CLI wrote
    try:
        rows = store.recent_sessions(limit=10)
    finally:
        store.dispose()
    assert {r.mailbox for r in rows} == {ANA, BEN}
    for r in rows:
        assert r.stats["graph_calls"] >= 1, r.stats  # at least the delta round
        assert r.stats["salesforce_calls"] >= 1, r.stats  # at least the Event create


def test_i2_side_by_side_sessions_each_count_only_their_own_calls(world: World) -> None:
    """`crmcal run` and the workers run sessions side by side on shared clients: each session
    counts its own thread's calls, so the sessions' Graph calls add up to exactly what the
    client made (Graph is only called from sessions), and the recording costs no extra
    transaction: the session row is written twice (start, close), as decision 0035 says."""
    _meetings(world)
    cfg = world.config()
    store = StateStore(cfg.storage.url())
    store.migrate()
    world.store = store
    cal, crm = world.calendar, world.crm
    g0, s0 = cal.calls.total, crm.total_calls
    writes: list[str] = []

    def seen(_conn: object, _cur: object, stmt: str, *_a: object) -> None:
        if "sessions" in stmt and stmt.lstrip().upper().startswith(("INSERT", "UPDATE")):
            writes.append(stmt)

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        results = run_sync(cfg, store=store, calendar=cal, crm=crm, now=world.now, concurrency=2)
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    assert all(r.status != "failed" for r in results)
    stats = [r.stats() for r in results]
    assert sum(s["graph_calls"] for s in stats) == cal.calls.total - g0
    assert 0 < sum(s["salesforce_calls"] for s in stats) <= crm.total_calls - s0
    assert len(writes) == 2 * len(results), writes
    rows = {r.mailbox: r for r in store.recent_sessions(limit=10)}
    for r in results:
        assert rows[r.mailbox].stats["graph_calls"] == r.stats()["graph_calls"]
