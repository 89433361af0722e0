"""Y1 at rest (issue 19): webhook clientStates and the generated dashboard session key are stored
sealed with the at-rest key (`storage.secret_key`, else `<data_dir>/at-rest.key`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import text

from crmcal.state import crypto
from crmcal.state.models_web import SubscriptionRow
from crmcal.web.app import session_secret, use_at_rest_key
from tests.integration.conftest import World
from tests.web._support import ALICE, Dash, make_world_users, serve


@pytest.fixture
def live(world: World) -> Iterator[Dash]:
    make_world_users(world)
    with serve(world, instant_sync=True) as d:
        yield d


def test_y1_client_states_are_sealed_in_the_store(live: Dash) -> None:
    inst = live.web.instant
    assert inst is not None
    assert inst.ensure_all() == {}
    with live.store.session() as s:
        row = s.get(SubscriptionRow, ALICE)
        assert row is not None
        plain = row.client_state
        raw = s.execute(
            text("SELECT client_state FROM web_subscriptions WHERE mailbox = :m"), {"m": ALICE}
        ).scalar_one()
    assert len(plain) >= 32 and plain not in raw
    assert raw.startswith(crypto.PREFIX)
    assert crypto.current().open(raw) == plain


def test_y1_the_session_key_file_is_sealed(live: Dash, tmp_path: Path) -> None:
    cfg, tmp_path = live.web.cfg, tmp_path / "elsewhere"
    cfg = cfg.model_copy(update={"storage": cfg.storage.model_copy(update={"data_dir": tmp_path})})
    use_at_rest_key(cfg)
    key = session_secret(cfg)
    stored = (tmp_path / "web-secret").read_text(encoding="utf-8")
    assert key not in stored and stored.startswith(crypto.PREFIX)
    assert session_secret(cfg) == key  # read back through the seal
    assert (tmp_path / "at-rest.key").stat().st_mode & 0o077 == 0
    # a plain file from before is sealed when read
    (tmp_path / "web-secret").write_text("plain-old-secret", encoding="utf-8")
    assert session_secret(cfg) == "plain-old-secret"
    assert (tmp_path / "web-secret").read_text(encoding="utf-8").startswith(crypto.PREFIX)
    use_at_rest_key(live.web.cfg)  # back to the dashboard's key


def test_y1_storage_secret_key_setting_decides_the_key(live: Dash, tmp_path: Path) -> None:
    """`storage.secret_key` changes the key: what one key sealed, another cannot open."""
    cfg, tmp_path = live.web.cfg, tmp_path / "elsewhere"
    st = cfg.storage.model_copy(update={"data_dir": tmp_path, "secret_key": SecretStr("k-one")})
    use_at_rest_key(cfg.model_copy(update={"storage": st}))
    sealed = crypto.current().seal("client-state")
    assert crypto.current().open(sealed) == "client-state"
    st2 = st.model_copy(update={"secret_key": SecretStr("k-two")})
    use_at_rest_key(cfg.model_copy(update={"storage": st2}))
    with pytest.raises(crypto.AtRestError):
        crypto.current().open(sealed)
    assert not (tmp_path / "at-rest.key").exists()  # a configured key writes no key file
    use_at_rest_key(live.web.cfg)  # back to the dashboard's key
