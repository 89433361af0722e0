"""O5 with a real `kill -9`: `crmcal sync --config ...` runs as a separate process against the
emulators served by this test process; the emulators count the HTTP writes it makes and send it
SIGKILL when write k has been applied but before its response leaves. A new process resumes with
the same state store. The final state on both sides must equal the clean run's: no duplicate
Event, no lost Event, no orphan category, every intent closed.

The in-process harness (`test_crash_every_step.py`) covers every k; so does this one (issue 18:
every write of the scenario, not a sample), with a real process death, where nothing in crmcal
gets to run a `finally`, flush a buffer or close a database transaction."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from crmcal.sandbox.runtime import Sandbox, write_config_toml
from crmcal.state import StateStore
from tests.crash._killswitch import KillSwitch, is_write
from tests.crash.test_crash_every_step import build, snapshot
from tests.integration.conftest import World

CRMCAL = (sys.executable, "-c", "from crmcal.cli import main; main()")


class Env:
    def __init__(self, tmp: Path) -> None:
        self.switch = KillSwitch()
        self.sb = Sandbox(wrap=self.switch).start()
        self.world = World(self.sb, tmp)
        tmp.mkdir(parents=True, exist_ok=True)
        build(self.world)
        self.toml = tmp / "crmcal.toml"
        cfg = self.world.config()
        write_config_toml(cfg, self.toml)
        text = self.toml.read_text(encoding="utf-8")
        text = text.replace("[storage]\n", f'[storage]\ndatabase_url = "{cfg.storage.url()}"\n', 1)
        self.toml.write_text(text, encoding="utf-8")

    def run(self, kill_at: int | None = None) -> int:
        """One `crmcal sync` process; returns its exit code (-9 when killed)."""
        env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
        proc = subprocess.Popen(
            [*CRMCAL, "sync", "--config", str(self.toml)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.switch.arm(kill_at, proc.pid)
        out, err = proc.communicate(timeout=120)
        self.switch.disarm()
        if kill_at is None:
            assert proc.returncode == 0, (out.decode(errors="replace"), err.decode())
        return proc.returncode

    def close(self) -> None:
        self.world.close()
        self.sb.stop()


def settle_in_process(e: Env) -> None:
    """The next sessions, in this process (cheaper than more processes; same state store)."""
    e.world.sync()
    e.world.sync()


@pytest.fixture
def envs(tmp_path: Path) -> Iterator[list[Env]]:
    made: list[Env] = []
    yield made
    for e in made:
        e.close()


def test_write_classifier() -> None:
    """Reads sent as POST ($batch of GETs, composite queries) are not counted as writes."""
    assert not is_write("POST", "/v1.0/$batch", b'{"requests":[{"id":"1","method":"GET"}]}')
    assert is_write("POST", "/v1.0/$batch", b'{"requests":[{"id":"1","method":"PATCH"}]}')
    assert not is_write("POST", "/services/data/v62.0/composite", b'{"compositeRequest":[]}')
    assert is_write("POST", "/services/data/v62.0/composite/sobjects", b"{}")
    assert not is_write("POST", "/services/oauth2/token", b"")
    assert not is_write("GET", "/v1.0/users/x/events", b"")


@pytest.mark.slow
def test_O5_kill_9_after_every_http_write(tmp_path: Path, envs: list[Env]) -> None:
    """O5: a real SIGKILL of `crmcal sync` after HTTP write k, for every k; resume."""
    clean = Env(tmp_path / "clean")
    envs.append(clean)
    clean.run()
    writes = list(clean.switch.writes)
    settle_in_process(clean)
    expected = snapshot(clean.world)
    assert len(expected["events"]) == 5, expected
    n = len(writes)
    assert n >= 6, writes
    print(f"kill -9 crash points: all {n} HTTP writes")
    for k in range(1, n + 1):
        e = Env(tmp_path / f"k{k}")
        envs.append(e)
        code = e.run(kill_at=k)
        assert e.switch.killed, f"write {k} never came (writes: {e.switch.writes})"
        assert code == -9, f"the process was not killed at write {k}"
        e.run()  # a new process resumes
        settle_in_process(e)
        got = snapshot(e.world)
        # same items with the same categories on both runs: no orphan or missing category
        assert got == expected, f"after kill -9 following HTTP write {k}: {writes[k - 1]}"
        store = StateStore(e.world.config().storage.url())
        try:
            assert store.open_intents() == [], f"intents left open after kill at write {k}"
        finally:
            store.dispose()
        e.close()
        envs.remove(e)
