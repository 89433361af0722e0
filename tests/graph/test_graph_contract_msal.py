"""Contract tests: msal (Microsoft's own client) runs the real token flow against the emulator.

msal only accepts https authorities, so the emulator is served over TLS with a self-signed
certificate that msal and httpx trust through `verify=<cert path>` (api-facts A14, D7).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import msal
import pytest

from crmcal.connectors.graph import GraphClient, GraphTokenError, MsalTokenProvider
from crmcal.connectors.graph.auth import PinnedVerifySession
from crmcal.connectors.retry import RetryPolicy

SCOPE = ["https://graph.microsoft.com/.default"]


_SESSIONS: list[PinnedVerifySession] = []


def pinned(cert: Path) -> PinnedVerifySession:
    """A requests session for msal that trusts the sandbox certificate (and only it)."""
    s = PinnedVerifySession()
    s.verify = str(cert)
    _SESSIONS.append(s)
    return s


@pytest.fixture(autouse=True)
def _close_sessions() -> Iterator[None]:
    """Closed keep-alive connections let the TLS server stop at once."""
    yield
    while _SESSIONS:
        _SESSIONS.pop().close()


def test_msal_authority_without_instance_discovery(tls_sandbox) -> None:
    sb, cert = tls_sandbox
    app = msal.ConfidentialClientApplication(
        sb.state.client_id,
        authority=f"{sb.url}/{sb.state.tenant_id}",
        client_credential=sb.state.client_secret,
        validate_authority=False,
        instance_discovery=False,
        http_client=pinned(cert),
    )
    first = app.acquire_token_for_client(scopes=SCOPE)
    assert "access_token" in first, first
    assert first["token_type"] == "Bearer" and first["token_source"] == "identity_provider"
    again = app.acquire_token_for_client(scopes=SCOPE)
    assert again["access_token"] == first["access_token"] and again["token_source"] == "cache"
    with httpx.Client(verify=ssl.create_default_context(cafile=str(cert))) as c:
        r = c.get(
            f"{sb.graph_url}/users/{sb.ANA}/events",
            headers={"Authorization": "Bearer " + first["access_token"]},
        )
    assert r.status_code == 200 and r.json()["value"] == []
    assert sb.state.stats["POST /{tenant}/oauth2/v2.0/token"] == 1


def test_msal_oidc_authority_reads_discovery_document(tls_sandbox) -> None:
    sb, cert = tls_sandbox
    app = msal.ConfidentialClientApplication(
        sb.state.client_id,
        oidc_authority=f"{sb.url}/{sb.state.tenant_id}",
        client_credential=sb.state.client_secret,
        http_client=pinned(cert),
    )
    result = app.acquire_token_for_client(scopes=SCOPE)
    assert "access_token" in result, result


def test_msal_wrong_secret_gets_entra_error(tls_sandbox) -> None:
    sb, cert = tls_sandbox
    app = msal.ConfidentialClientApplication(
        sb.state.client_id,
        authority=f"{sb.url}/{sb.state.tenant_id}",
        client_credential="not-the-secret",
        validate_authority=False,
        instance_discovery=False,
        http_client=pinned(cert),
    )
    result = app.acquire_token_for_client(scopes=SCOPE)
    assert "access_token" not in result
    assert result["error"] == "invalid_client"
    assert result["error_description"].startswith("AADSTS7000215")


def test_connector_uses_msal_over_tls_and_renews_expired_tokens(tls_sandbox) -> None:
    sb, cert = tls_sandbox
    client = GraphClient(
        tenant_id=sb.state.tenant_id,
        client_id=sb.state.client_id,
        client_secret=sb.state.client_secret,
        authority_url=sb.url,
        graph_url=sb.graph_url,
        verify=str(cert),
        retry=RetryPolicy(max_attempts=2, sleep=lambda s: None),
    )
    assert isinstance(client._tokens, MsalTokenProvider)
    assert client.ensure_categories(sb.ANA, {"Salesforce": "preset7"}) == ["Salesforce"]
    sb.state.expire_tokens()  # the next call gets 401, msal is asked again, the call succeeds
    assert client.ensure_categories(sb.ANA, {"Salesforce": "preset7", "Sync Error": "preset0"}) == [
        "Sync Error"
    ]
    assert sb.state.stats["POST /{tenant}/oauth2/v2.0/token"] == 2
    assert "secret" not in repr(client) and sb.state.client_secret not in repr(client._tokens)
    client.close()


def test_connector_reports_refused_credentials(tls_sandbox) -> None:
    sb, cert = tls_sandbox
    client = GraphClient(
        tenant_id=sb.state.tenant_id,
        client_id=sb.state.client_id,
        client_secret="wrong",
        authority_url=sb.url,
        graph_url=sb.graph_url,
        verify=str(cert),
    )
    with pytest.raises(GraphTokenError) as ei:
        client.ensure_categories(sb.ANA, {"x": "none"})
    client.close()
    assert ei.value.code == "invalid_client"
    assert "wrong" not in str(ei.value)
