"""The two reads the sync engine adds: D2 candidates by natural key, L4 records by id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crmcal.connectors.salesforce import SalesforceClient
from crmcal.domain import RecordType
from crmcal.sandbox.salesforce.state import SalesforceOrg

T0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)


def test_D2_events_by_natural_keys_one_query_exact_starts(
    org: SalesforceOrg, client: SalesforceClient, alice: str
) -> None:
    other = org.add_user("bob@contoso.example")
    hit = org.add_event(alice, "Pricing call", T0, T0 + timedelta(hours=1))
    org.add_event(
        alice, "Between", T0 + timedelta(minutes=30), T0 + timedelta(hours=1)
    )  # in range, not a start we ask for
    hit2 = org.add_event(alice, "Later", T0 + timedelta(days=2), T0 + timedelta(days=2, hours=1))
    org.add_event(other, "Pricing call", T0, T0 + timedelta(hours=1))  # another owner
    client.events_by_ids([hit])  # the token (and any describe) is fetched once, then cached
    before = client.total_calls
    got = client.events_by_natural_keys([alice], [T0, T0 + timedelta(days=2)])
    assert sorted(e.id for e in got) == sorted([hit, hit2])
    assert client.total_calls - before == 1
    assert client.events_by_natural_keys([alice], []) == []


def test_L4_records_by_ids_any_supported_type(org: SalesforceOrg, client: SalesforceClient) -> None:
    acct = org.add_account("Fabrikam", website="fabrikam.example")
    c = org.add_contact("Gomez", email="maria@fabrikam.example", account_id=acct)
    lead = org.add_lead("Wong", email="lee@tailspin.example", company="Tailspin")
    opp = org.add_opportunity("Renewal", account_id=acct)
    got = {
        r.id: r
        for r in client.records_by_ids(
            [c, lead, acct, opp, "00U000000000000AAA", "003000000000000XYZ"]
        )
    }
    assert set(got) == {c, lead, acct, opp}
    assert got[c].type is RecordType.CONTACT
    assert got[c].account_id == acct
    assert got[opp].type is RecordType.OPPORTUNITY


def test_L7_records_by_ids_ignores_what_is_not_an_id(
    org: SalesforceOrg, client: SalesforceClient
) -> None:
    org.add_contact("Gomez", email="maria@fabrikam.example")
    before = client.total_calls
    assert client.records_by_ids(["003' OR Name != '", "003%"]) == []
    assert client.total_calls == before
