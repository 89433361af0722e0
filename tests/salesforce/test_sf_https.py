"""simple-salesforce runs unmodified against the emulator over https (issue 16, api-facts D6/E5):
`Salesforce(instance_url=..., session_id=...)`, its own requests session, trust through
`REQUESTS_CA_BUNDLE` only; without that trust, TLS verification fails as it would for any
unknown CA."""

from __future__ import annotations

import pytest
import requests
from simple_salesforce import Salesforce

from crmcal.sandbox.server import ServerThread
from tests.salesforce.conftest import Tls


def test_simple_salesforce_unmodified_over_https(sf_unmodified: Salesforce, alice: str) -> None:
    got = sf_unmodified.Event.create(
        {
            "Subject": "Over https",
            "StartDateTime": "2030-01-07T10:00:00.000+0000",
            "EndDateTime": "2030-01-07T11:00:00.000+0000",
            "OwnerId": alice,
        }
    )
    assert got["success"] is True
    rows = sf_unmodified.query(f"SELECT Id, Subject FROM Event WHERE Id = '{got['id']}'")
    assert [r["Subject"] for r in rows["records"]] == ["Over https"]
    assert sf_unmodified.base_url.startswith("https://127.0.0.1:")


def test_without_the_ca_simple_salesforce_refuses_the_certificate(
    server: ServerThread, token: str, tls: Tls, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    from crmcal.sandbox.tls import make_tls

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(make_tls(tmp_path).ca))  # some other CA
    sf = Salesforce(instance_url=server.url, session_id=token, version="62.0")
    with pytest.raises(requests.exceptions.SSLError):
        sf.query("SELECT Id FROM Event")
