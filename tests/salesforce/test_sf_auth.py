"""OAuth against the emulator: JWT bearer (RSA key made here) and client credentials."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from crmcal.connectors.errors import AuthError
from crmcal.connectors.salesforce import SalesforceAuthError, SalesforceClient
from crmcal.connectors.salesforce.auth import JWT_GRANT
from crmcal.sandbox.salesforce import SalesforceOrg
from crmcal.sandbox.server import ServerThread

from .conftest import CLIENT_ID, CLIENT_SECRET, USERNAME, Keys, Tls


def _http(tls: Tls) -> httpx.Client:
    return httpx.Client(verify=tls.context, trust_env=False)


def test_jwt_bearer_token_response_shape(
    org: SalesforceOrg, server: ServerThread, keys: Keys, tls: Tls, alice: str
) -> None:
    assertion = jwt.encode(
        {"iss": CLIENT_ID, "sub": USERNAME, "aud": "https://login.salesforce.com",
         "exp": int(time.time()) + 180},
        keys.private_pem,
        algorithm="RS256",
    )  # fmt: skip
    with _http(tls) as http:
        r = http.post(
            server.url + "/services/oauth2/token",
            data={"grant_type": JWT_GRANT, "assertion": assertion},
        )
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert body["instance_url"] == server.url
    assert body["id"].endswith(f"/{alice}")
    assert "refresh_token" not in body
    assert org.check_token(body["access_token"]) == alice


@pytest.mark.parametrize(
    ("claims", "error"),
    [
        ({"sub": "nobody@corp.example"}, "invalid_grant"),
        ({"exp": int(time.time()) - 10}, "invalid_grant"),
        ({"aud": "https://evil.example"}, "invalid_grant"),
        ({"iss": "unknown-app"}, "invalid_client_id"),
    ],
)
def test_jwt_bearer_refusals(
    org: SalesforceOrg, server: ServerThread, keys: Keys, tls: Tls,
    claims: dict[str, object], error: str,
) -> None:  # fmt: skip
    base: dict[str, object] = {"iss": CLIENT_ID, "sub": USERNAME, "aud": server.url,
                               "exp": int(time.time()) + 180}  # fmt: skip
    assertion = jwt.encode({**base, **claims}, keys.private_pem, algorithm="RS256")
    with _http(tls) as http:
        r = http.post(
            server.url + "/services/oauth2/token",
            data={"grant_type": JWT_GRANT, "assertion": assertion},
        )
    assert r.status_code == 400
    assert r.json()["error"] == error
    assert "error_description" in r.json()


def test_jwt_signed_with_another_key_is_refused(
    org: SalesforceOrg, server: ServerThread, tls: Tls
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()  # fmt: skip
    with (
        _http(tls) as http,
        SalesforceClient(
            login_url=server.url, client_id=CLIENT_ID, auth="jwt", username=USERNAME,
            private_key=pem, http=http,
        ) as c,
        pytest.raises(SalesforceAuthError) as exc,
    ):  # fmt: skip
        c.users(emails=[USERNAME])
    assert isinstance(exc.value, AuthError)
    assert exc.value.code == "invalid_grant"
    assert pem not in str(exc.value)


def test_client_credentials(org: SalesforceOrg, server: ServerThread, tls: Tls, alice: str) -> None:
    with (
        _http(tls) as http,
        SalesforceClient(
            login_url=server.url, client_id=CLIENT_ID, auth="client_credentials",
            client_secret=CLIENT_SECRET, http=http,
        ) as c,
    ):  # fmt: skip
        users = c.users(emails=[USERNAME.upper()])
        assert [u.id for u in users] == [alice]
        assert c.instance_url == server.url
        assert CLIENT_SECRET not in repr(c)
    with (
        _http(tls) as http,
        SalesforceClient(
            login_url=server.url, client_id=CLIENT_ID, auth="client_credentials",
            client_secret="wrong", http=http,
        ) as bad,
    ):  # fmt: skip
        with pytest.raises(SalesforceAuthError) as exc:
            bad.public_calendars()
        assert "wrong" not in str(exc.value)


def test_expired_token_is_renewed_once(client: SalesforceClient, org: SalesforceOrg) -> None:
    client.users(emails=[USERNAME])
    assert client.calls["oauth2/token"] == 1
    org.expire_tokens()
    assert len(client.users(emails=[USERNAME])) == 1
    assert client.calls["oauth2/token"] == 2


def test_invalid_session_after_renewal_raises(client: SalesforceClient, org: SalesforceOrg) -> None:
    org.token_ttl = -__import__("datetime").timedelta(seconds=1)
    try:
        with pytest.raises(SalesforceAuthError) as exc:
            client.users(emails=[USERNAME])
        assert exc.value.code == "INVALID_SESSION_ID"
        assert exc.value.status == 401
    finally:
        org.token_ttl = __import__("datetime").timedelta(hours=2)


def test_Y1_no_secrets_in_logs(
    org: SalesforceOrg, server: ServerThread, tls: Tls, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    org.faults.fail_next = 1  # exercise the retry log line too
    with (
        _http(tls) as http,
        SalesforceClient(
            login_url=server.url, client_id=CLIENT_ID, auth="jwt", username=USERNAME,
            private_key=keys.private_pem, http=http,
            retry=__import__("crmcal.connectors.retry").connectors.retry.RetryPolicy(
                sleep=lambda _s: None),
        ) as c,
    ):  # fmt: skip
        c.users(emails=[USERNAME])
        token = next(iter(org.tokens))
    text = caplog.text
    assert token not in text
    assert keys.private_pem.splitlines()[1] not in text
    assert CLIENT_SECRET not in text
