"""`[exchange]`: each key changes what crmcal does (issue 20)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from crmcal.config import ConfigError, ExchangeConfig, load_config
from crmcal.connectors.errors import AuthError, TransientError
from crmcal.connectors.routing import CalendarRouter
from crmcal.domain.calendar import ItemDraft
from crmcal.sandbox.runtime import Sandbox
from crmcal.service.runner import build_calendar, build_ews

ANA = "ana@contoso.example"
BEN = "ben@contoso.example"
WS = datetime.now(UTC) - timedelta(days=1)
WE = WS + timedelta(days=30)


@pytest.fixture(scope="module")
def sb() -> Any:
    with Sandbox() as s:
        s.ews.add_mailbox(ANA)
        s.ews.add_mailbox("svc-crmcal@contoso.example")  # the service account's own
        s.graph.add_user(BEN)
        yield s


def cfg(sb: Sandbox, tmp: Path, **exchange: Any) -> Any:
    from exchangelib.protocol import close_connections

    close_connections()  # exchangelib caches one protocol per endpoint and credentials
    base = sb.config(data_dir=tmp, calendar="ews")
    ex = ExchangeConfig(**{**dict(base.exchange), **exchange})
    return base.model_copy(update={"exchange": ex})


def reads(c: Any) -> bool:
    c.delta(ANA, WS, WE, None)
    return True


def test_backend_chooses_the_protocol(sb: Sandbox, tmp_path: Path) -> None:
    graph = build_calendar(sb.config(data_dir=tmp_path))
    assert not isinstance(graph, CalendarRouter)
    with pytest.raises(Exception, match="MailboxNotEnabledForRESTAPI"):
        graph.delta(ANA, WS, WE, None)
    ews = build_calendar(cfg(sb, tmp_path))
    assert isinstance(ews, CalendarRouter) and ews.backend(ANA) == "ews"
    assert reads(ews)


def test_ews_mailboxes_and_graph_mailboxes_override_per_user(sb: Sandbox, tmp_path: Path) -> None:
    hybrid = build_calendar(cfg(sb, tmp_path, backend="graph", ews_mailboxes=(ANA,)))
    assert isinstance(hybrid, CalendarRouter)
    assert (hybrid.backend(ANA), hybrid.backend(BEN)) == ("ews", "graph")
    assert reads(hybrid)
    hybrid.delta(BEN, WS, WE, None)  # Ben's Exchange Online mailbox over Graph
    other = build_calendar(cfg(sb, tmp_path, graph_mailboxes=(BEN,)))
    assert isinstance(other, CalendarRouter)
    assert (other.backend(ANA), other.backend(BEN)) == ("ews", "graph")
    other.delta(BEN, WS, WE, None)


def test_ews_url_or_autodiscover_is_required(sb: Sandbox, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ews_url"):
        ExchangeConfig(backend="ews")
    assert ExchangeConfig(backend="ews", autodiscover=True).uses_ews
    assert build_ews(cfg(sb, tmp_path, ews_url="", autodiscover=True)).autodiscover
    wrong = build_ews(cfg(sb, tmp_path, ews_url="https://127.0.0.1:9/EWS/Exchange.asmx"))
    with pytest.raises(TransientError):
        reads(wrong)


def test_username_password_and_password_file(sb: Sandbox, tmp_path: Path) -> None:
    with pytest.raises(AuthError):
        reads(build_ews(cfg(sb, tmp_path, password=SecretStr("wrong"))))
    with pytest.raises(AuthError):
        reads(build_ews(cfg(sb, tmp_path, username="CONTOSO\\nobody")))
    f = tmp_path / "pw"
    f.write_text(sb.ews_password + "\n", encoding="utf-8")
    assert reads(build_ews(cfg(sb, tmp_path, password=None, password_file=f)))


def test_auth_ntlm_is_refused_by_a_basic_only_server(sb: Sandbox, tmp_path: Path) -> None:
    with pytest.raises(AuthError):
        reads(build_ews(cfg(sb, tmp_path, auth="ntlm")))
    assert reads(build_ews(cfg(sb, tmp_path, auth="basic")))


def test_impersonation_off_is_delegate_access_which_the_account_lacks(
    sb: Sandbox, tmp_path: Path
) -> None:
    with pytest.raises(AuthError) as e:
        reads(build_ews(cfg(sb, tmp_path, impersonation=False)))
    assert e.value.code == "ErrorAccessDenied"


def test_ca_bundle_is_what_the_certificate_is_checked_against(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crmcal.connectors.ews import client as ews_client

    # tests/conftest.py trusts the sandbox CA through the environment for raw test clients;
    # requests (under exchangelib) would honour it, so take it away: only the setting counts.
    for var in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)
    ews_client._ca_by_host.clear()
    with pytest.raises(TransientError):
        reads(build_ews(cfg(sb, tmp_path, ca_bundle=None)))
    assert reads(build_ews(cfg(sb, tmp_path)))


def test_server_build_sets_the_requested_schema(sb: Sandbox, tmp_path: Path) -> None:
    reads(build_ews(cfg(sb, tmp_path, server_build="15.0")))
    assert sb.ews.calls.get("RequestServerVersion:Exchange2013", 0) >= 1
    reads(build_ews(cfg(sb, tmp_path, server_build="15.2")))
    assert sb.ews.calls.get("RequestServerVersion:Exchange2016", 0) >= 1
    with pytest.raises(ValueError, match=r"major\.minor"):
        ExchangeConfig(server_build="2019")


def test_batch_size_is_items_per_call(sb: Sandbox, tmp_path: Path) -> None:
    s = WS + timedelta(days=2)
    drafts = [ItemDraft(f"b{i}", s, s + timedelta(hours=1)) for i in range(4)]
    small = build_ews(cfg(sb, tmp_path, batch_size=2))
    small.create_items(ANA, drafts)
    big = build_ews(cfg(sb, tmp_path, batch_size=100))
    big.create_items(ANA, drafts)
    assert (small.calls["CreateItem"], big.calls["CreateItem"]) == (2, 1)


def test_exchange_section_from_toml(tmp_path: Path) -> None:
    p = tmp_path / "crmcal.toml"
    p.write_text(
        '[exchange]\nbackend = "ews"\news_url = "https://mail.contoso.example/EWS/Exchange.asmx"\n'
        'username = "CONTOSO\\\\svc"\nauth = "ntlm"\n',
        encoding="utf-8",
    )
    c = load_config(p)
    assert c.exchange.backend == "ews" and c.exchange.username == "CONTOSO\\svc"
    p.write_text('[exchange]\nbackend = "ews"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="exchange"):
        load_config(p)
