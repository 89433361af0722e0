"""Fixtures: one HTTPS Salesforce emulator per test session (served with the sandbox CA's
certificate, crmcal.sandbox.tls), a fresh org per test, and clients pointed at it (our connector,
simple-salesforce as shipped, raw httpx)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce import Salesforce

from crmcal.connectors.retry import RetryPolicy
from crmcal.connectors.salesforce import SalesforceClient
from crmcal.sandbox.salesforce import SalesforceOrg, create_app
from crmcal.sandbox.server import ServerThread
from crmcal.sandbox.tls import process_tls

CLIENT_ID = "3MVG9crmcal.test.app"
CLIENT_SECRET = "s3cr3t-for-tests"
USERNAME = "alice@corp.example"


@dataclass(frozen=True)
class Tls:
    """The sandbox CA (`ca`, what clients trust) and the server's certificate and key."""

    cert: str
    key: str
    ca: str

    @property
    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca)


@dataclass(frozen=True)
class Keys:
    private_pem: str
    public_pem: str


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def tls() -> Tls:
    """The process's sandbox CA and server certificate (crmcal.sandbox.tls), made once."""
    t = process_tls()
    return Tls(str(t.cert), str(t.key), str(t.ca))


@pytest.fixture(scope="session")
def keys() -> Keys:
    key = _rsa()
    return Keys(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
    )


@pytest.fixture(scope="session")
def session_org() -> SalesforceOrg:
    return SalesforceOrg()


@pytest.fixture(scope="session")
def server(session_org: SalesforceOrg, tls: Tls) -> Iterator[ServerThread]:
    with ServerThread(create_app(session_org), ssl_certfile=tls.cert, ssl_keyfile=tls.key) as srv:
        yield srv
        # Don't wait for idle keep-alive connections of clients that were never closed.
        srv._server.force_exit = True


@pytest.fixture
def org(session_org: SalesforceOrg, server: ServerThread, keys: Keys) -> SalesforceOrg:
    """A fresh org (same server) with user alice, a JWT app and a client-credentials app."""
    session_org.reset()
    session_org.api_max = 15_000
    alice = session_org.add_user(USERNAME, first_name="Alice", last_name="Archer")
    session_org.add_client(
        CLIENT_ID, secret=CLIENT_SECRET, public_key_pem=keys.public_pem, run_as_user_id=alice
    )
    return session_org


@pytest.fixture
def alice(org: SalesforceOrg) -> str:
    uid = org.user_by_username(USERNAME)
    assert uid is not None
    return uid


@pytest.fixture
def no_sleep() -> RetryPolicy:
    return RetryPolicy(sleep=lambda _s: None, base_delay=0.0)


@pytest.fixture
def client(
    org: SalesforceOrg, server: ServerThread, keys: Keys, tls: Tls, no_sleep: RetryPolicy
) -> Iterator[SalesforceClient]:
    with (
        httpx.Client(verify=tls.context, timeout=30, trust_env=False) as http,
        SalesforceClient(
            login_url=server.url,
            client_id=CLIENT_ID,
            auth="jwt",
            username=USERNAME,
            private_key=keys.private_pem,
            retry=no_sleep,
            http=http,
        ) as c,
    ):
        yield c


@pytest.fixture
def token(org: SalesforceOrg, alice: str) -> str:
    return org.issue_token(alice)


@pytest.fixture
def sf(org: SalesforceOrg, server: ServerThread, tls: Tls, token: str) -> Iterator[Salesforce]:
    """simple-salesforce with a session id and instance URL (api-facts D6)."""
    session = requests.Session()
    session.trust_env = False  # else REQUESTS_CA_BUNDLE from the environment overrides verify
    session.verify = tls.ca
    yield Salesforce(instance_url=server.url, session_id=token, session=session, version="62.0")
    session.close()


@pytest.fixture
def sf_unmodified(
    org: SalesforceOrg,
    server: ServerThread,
    tls: Tls,
    token: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Salesforce:
    """simple-salesforce exactly as a user runs it: `Salesforce(instance_url=..., session_id=...)`,
    no session of ours, nothing patched. It trusts the sandbox CA the documented requests way,
    the `REQUESTS_CA_BUNDLE` environment variable (api-facts D6)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls.ca)
    return Salesforce(instance_url=server.url, session_id=token, version="68.0")


@pytest.fixture
def api(server: ServerThread, tls: Tls, token: str) -> Iterator[httpx.Client]:
    """Raw HTTP against the emulator, authenticated, base URL = /services/data/v62.0/."""
    with httpx.Client(
        base_url=server.url + "/services/data/v62.0/",
        verify=tls.context,
        trust_env=False,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ) as c:
        yield c


@pytest.fixture
def control(server: ServerThread, tls: Tls) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.url + "/_sandbox/", verify=tls.context, trust_env=False, timeout=30
    ) as c:
        yield c
