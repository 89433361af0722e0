"""https everywhere (api-facts E5): both emulators are served with a certificate from the sandbox
CA, crmcal trusts it only through `graph.ca_bundle` / `salesforce.ca_bundle`, and msal is the
only token path. The environment's CA variables (set for plain test clients in tests/conftest.py)
are removed here, so what passes passes on the configuration alone."""

from __future__ import annotations

import json
import ssl
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

from crmcal.config import Config, load_config
from crmcal.connectors.errors import ConnectorError
from crmcal.connectors.graph import GraphTokenError, MsalTokenProvider
from crmcal.connectors.graph.auth import DelegatedRefreshToken, default_token_provider
from crmcal.sandbox.runtime import GRAPH_CLIENT_ID, Sandbox, adding_users_help
from crmcal.sandbox.server import ServerThread
from crmcal.sandbox.tls import CA_FILE, make_tls
from crmcal.service.runner import build_calendar, build_crm, run_sync
from crmcal.state import StateStore
from crmcal.state.models import SessionStatus


@pytest.fixture
def no_env_ca(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)


@pytest.fixture
def sb() -> Sandbox:
    with Sandbox() as s:
        s.graph.add_user("ana@contoso.example", "Ana Ruiz")
        yield s  # type: ignore[misc]


def _with_bundles(cfg: Config, graph: Path | None, salesforce: Path | None) -> Config:
    return cfg.model_copy(
        update={
            "graph": cfg.graph.model_copy(update={"ca_bundle": graph}),
            "salesforce": cfg.salesforce.model_copy(update={"ca_bundle": salesforce}),
        }
    )


def test_both_emulators_are_https_only(sb: Sandbox) -> None:
    assert sb.graph_url.startswith("https://127.0.0.1:")
    assert sb.salesforce_url.startswith("https://127.0.0.1:")
    with pytest.raises(httpx.HTTPError):  # plain http to a TLS port is no answer
        httpx.get(sb.graph_url.replace("https://", "http://") + "/_sandbox/info", timeout=5)


def test_config_ca_bundle_is_what_makes_tls_verify(
    sb: Sandbox, tmp_path: Path, no_env_ca: None
) -> None:
    """graph.ca_bundle and salesforce.ca_bundle: the sandbox CA verifies; another CA (a wrong
    bundle) fails verification on that side only; unset (the system store) fails too."""
    cfg = sb.config(data_dir=tmp_path)
    assert cfg.graph.ca_bundle == cfg.salesforce.ca_bundle == sb.tls.ca
    other = make_tls(tmp_path / "other").ca

    with build_calendar(cfg) as cal:  # msal over https, then Graph
        assert isinstance(cal._tokens, MsalTokenProvider)
        assert cal.ensure_categories("ana@contoso.example", {"Salesforce": "preset7"}) == [
            "Salesforce"
        ]
    with build_crm(cfg) as crm:
        assert crm.describe("Event").field("Subject") is not None

    wrong_graph = _with_bundles(cfg, other, sb.tls.ca)
    with build_calendar(wrong_graph) as cal, pytest.raises(ConnectorError):
        cal.ensure_categories("ana@contoso.example", {"Salesforce": "preset7"})
    with build_crm(wrong_graph) as crm:  # the Salesforce side still trusts the right CA
        assert crm.describe("Event").field("Subject") is not None

    wrong_sf = _with_bundles(cfg, sb.tls.ca, other)
    with build_crm(wrong_sf) as crm, pytest.raises(ConnectorError):
        crm.describe("Event")
    system = _with_bundles(cfg, None, None)
    with build_crm(system) as crm, pytest.raises(ConnectorError):
        crm.describe("Event")


def test_msal_is_the_only_token_path() -> None:
    """E5: there is no plain-POST fallback; an http authority is refused before any request."""
    with pytest.raises(GraphTokenError) as e:
        default_token_provider(
            tenant_id="t", client_id="c", client_secret="s", authority_url="http://127.0.0.1:1"
        )
    assert e.value.code == "insecure_authority"
    p = default_token_provider(
        tenant_id="t", client_id="c", client_secret="s", authority_url="https://127.0.0.1:1"
    )
    assert isinstance(p, MsalTokenProvider)
    assert issubclass(DelegatedRefreshToken, MsalTokenProvider)


def test_delegated_refresh_token_goes_through_msal(sb: Sandbox, no_env_ca: None) -> None:
    """G2's delegated token is redeemed by msal (`acquire_token_by_refresh_token`) over https."""
    refresh = sb.graph.issue_refresh_token(GRAPH_CLIENT_ID, "ana@contoso.example", "Group.Read.All")
    p = DelegatedRefreshToken(
        tenant_id=sb.graph.tenant_id,
        client_id=GRAPH_CLIENT_ID,
        client_secret=sb.graph_secret,
        refresh_token=refresh,
        authority_url=sb.graph_url,
        verify=str(sb.tls.ca),
    )
    tok = p.token()
    assert sb.graph.delegated_user("Bearer " + tok) is not None
    assert p.token() == tok  # reused until shortly before expiry
    assert sb.graph.stats["POST /{tenant}/oauth2/v2.0/token"] == 1
    p.invalidate()
    assert p.token() != tok
    bad = DelegatedRefreshToken(
        tenant_id=sb.graph.tenant_id,
        client_id=GRAPH_CLIENT_ID,
        client_secret=sb.graph_secret,
        refresh_token="not-a-refresh-token",
        authority_url=sb.graph_url,
        verify=str(sb.tls.ca),
    )
    with pytest.raises(GraphTokenError) as e:
        bad.token()
    assert e.value.code == "invalid_grant" and "not-a-refresh-token" not in str(e.value)


def test_sandbox_no_seed_config_works_once_users_exist(tmp_path: Path, no_env_ca: None) -> None:
    """`crmcal sandbox --no-seed`: the config and CA it writes, plus exactly the printed steps
    (two control-API calls and a `[[users]]` table), give a working sync."""
    with Sandbox() as s:
        path = tmp_path / "cfg" / "sandbox.toml"
        s.write_config(path)
        assert (path.parent / CA_FILE).read_bytes() == s.tls.ca.read_bytes()
        help_text = adding_users_help(s, path)
        assert f"{s.graph_url}/_sandbox/users" in help_text
        assert f"{s.salesforce_url}/_sandbox/seed" in help_text
        assert "[[users]]" in help_text
        cfg = load_config(path)
        assert cfg.graph.ca_bundle == path.parent / CA_FILE and cfg.users == ()

        ca = str(path.parent / CA_FILE)
        g = httpx.post(
            f"{s.graph_url}/_sandbox/users",
            json={"address": "ana@contoso.example", "displayName": "Ana Ruiz"},
            verify=ssl.create_default_context(cafile=ca),
        )
        assert g.status_code == 201, g.text
        r = httpx.post(
            f"{s.salesforce_url}/_sandbox/seed",
            json={"users": [{"email": "ana@contoso.example", "first_name": "Ana",
                             "last_name": "Ruiz"}]},
            verify=ssl.create_default_context(cafile=ca),
        )  # fmt: skip
        assert r.status_code == 200, r.text
        [uid] = r.json()["users"]
        with path.open("a", encoding="utf-8") as f:
            f.write(f'\n[[users]]\nmailbox = "ana@contoso.example"\n'
                    f"salesforce_user_id = {json.dumps(uid)}\n")  # fmt: skip
        cfg = load_config(path)
        s.graph.seed_event(
            "ana@contoso.example",
            {
                "subject": "Hello",
                "start": {"dateTime": "2030-01-07T10:00:00", "timeZone": "UTC"},
                "end": {"dateTime": "2030-01-07T11:00:00", "timeZone": "UTC"},
            },
        )
        store = StateStore(cfg.storage.url())
        store.migrate()
        try:
            with build_calendar(cfg) as cal, build_crm(cfg) as crm:
                [res] = run_sync(cfg, store=store, calendar=cal, crm=crm)
            assert res.error is None and res.status == SessionStatus.SUCCEEDED, res.error
        finally:
            store.dispose()


def test_graph_emulator_trusts_webhooks_served_with_the_sandbox_ca(no_env_ca: None) -> None:
    """E4: webhooks must be https; the Graph emulator trusts the sandbox CA (as Graph trusts a
    public one) without help from the environment, and refuses a certificate from another CA."""
    hook = FastAPI()

    @hook.post("/n")
    async def n(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.query_params.get("validationToken", ""))

    with Sandbox() as s, ServerThread(hook, tls=s.tls) as good:
        s.graph.add_user("ana@contoso.example")
        tok = s.graph.issue_token(GRAPH_CLIENT_ID)
        ctx = s.tls.context()

        def subscribe(url: str) -> httpx.Response:
            return httpx.post(
                f"{s.graph_url}/v1.0/subscriptions",
                headers={"Authorization": f"Bearer {tok}"},
                verify=ctx,
                json={
                    "changeType": "updated",
                    "notificationUrl": url,
                    "resource": "/users/ana@contoso.example/events",
                    "expirationDateTime": (datetime.now(UTC) + timedelta(days=1)).strftime(
                        "%Y-%m-%dT%H:%M:%SZ"
                    ),
                    "clientState": "cs",
                },
            )

        ok = subscribe(good.url + "/n")
        assert ok.status_code == 201, ok.text
        assert subscribe(good.url.replace("https://", "http://") + "/n").status_code == 400
        with (
            tempfile.TemporaryDirectory() as d,
            ServerThread(hook, tls=make_tls(Path(d))) as other,
        ):
            r = subscribe(other.url + "/n")
            assert r.status_code == 400 and "ConnectError" in r.json()["error"]["message"]
