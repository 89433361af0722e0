"""The emulator's SOQL parser/evaluator and the connector's escaping, against each other."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcal.connectors.salesforce import soql as csoql
from crmcal.sandbox.salesforce import ApiError, SalesforceOrg
from crmcal.sandbox.salesforce import soql as esoql

T0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def world() -> tuple[SalesforceOrg, dict[str, str]]:
    org = SalesforceOrg()
    u = org.add_user("alice@corp.example", first_name="Alice", last_name="Archer")
    cal = org.add_calendar("Room", type="Resource")
    acc = org.add_account("Acme", website="acme.com")
    ids = {
        "u": u,
        "cal": cal,
        "acc": acc,
        "c1": org.add_contact("Smith", email="Smith@Acme.com", account_id=acc),
        "c2": org.add_contact("Jones", email=None, account_id=acc),
        "c3": org.add_contact("O'Neil", email="oneil@other.org", Title="CEO"),
        "e1": org.add_event(u, "Call", T0, T0 + timedelta(hours=1)),
        "e2": org.add_event(cal, "Room booking", T0 + timedelta(days=1), T0 + timedelta(days=1, hours=2)),
        "e3": org.add_event(u, "Lunch", T0 + timedelta(days=2), T0 + timedelta(days=2, hours=1),
                            IsPrivate=True),
    }  # fmt: skip
    return org, ids


def names(org: SalesforceOrg, q: str, field: str = "Id") -> list[object]:
    page = org.query(q)
    return [r[field] for r in page.records]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("SELECT Id FROM Contact WHERE Email = 'smith@acme.com'", ["c1"]),
        ("SELECT Id FROM Contact WHERE Email != 'smith@acme.com' ORDER BY LastName", ["c2", "c3"]),
        ("SELECT Id FROM Contact WHERE Email = null", ["c2"]),
        ("SELECT Id FROM Contact WHERE Email IN ('x@y', 'ONEIL@other.org')", ["c3"]),
        (
            "SELECT Id FROM Contact WHERE Email NOT IN ('oneil@other.org') ORDER BY LastName",
            ["c2", "c1"],
        ),
        ("SELECT Id FROM Contact WHERE LastName LIKE 'o\\'%'", ["c3"]),
        (
            "SELECT Id FROM Contact WHERE NOT LastName LIKE 'S%' ORDER BY LastName DESC",
            ["c3", "c2"],
        ),
        (
            "SELECT Id FROM Contact WHERE (LastName = 'Smith' OR LastName = 'Jones') AND "
            "Email != null",
            ["c1"],
        ),
        ("SELECT Id FROM Contact WHERE Account.Name = 'Acme' ORDER BY LastName", ["c2", "c1"]),
        ("SELECT Id FROM Event WHERE Owner.Type = 'Calendar'", ["e2"]),
        (
            "SELECT Id FROM Event WHERE StartDateTime > 2026-03-10T14:00:00Z ORDER BY StartDateTime",
            ["e2", "e3"],
        ),
        (
            "SELECT Id FROM Event WHERE StartDateTime >= 2026-03-10T15:00:00+01:00 "
            "ORDER BY StartDateTime LIMIT 1",
            ["e1"],
        ),
        ("SELECT Id FROM Event WHERE ActivityDate = 2026-03-11", ["e2"]),
        (
            "SELECT Id FROM Event WHERE ActivityDate <= 2026-03-11 AND IsPrivate = false "
            "ORDER BY StartDateTime",
            ["e1", "e2"],
        ),
        ("SELECT Id FROM Event ORDER BY StartDateTime LIMIT 2 OFFSET 1", ["e2", "e3"]),
        ("SELECT Id FROM Event WHERE DurationInMinutes > 60", ["e2"]),
        ("SELECT Id FROM Contact WHERE Title = null AND (NOT (LastName = 'Jones'))", ["c1"]),
    ],
)
def test_queries(world: tuple[SalesforceOrg, dict[str, str]], q: str, expected: list[str]) -> None:
    org, ids = world
    assert names(org, q) == [ids[k] for k in expected]


def test_relationship_fields_in_results(world: tuple[SalesforceOrg, dict[str, str]]) -> None:
    org, ids = world
    [rec] = org.query(
        f"SELECT Id, Owner.Type, Owner.Name, Subject FROM Event WHERE Id = '{ids['e1']}'"
    ).records
    assert rec["Owner"] == {
        "attributes": {"type": "Name", "url": f"/services/data/v62.0/sobjects/User/{ids['u']}"},
        "Type": "User",
        "Name": "Alice Archer",
    }
    [c] = org.query(
        "SELECT Account.Name, Account.Website FROM Contact WHERE LastName = 'Smith'"
    ).records
    assert c["Account"]["Name"] == "Acme"
    assert c["Account"]["attributes"]["type"] == "Account"


def test_count_and_15_char_ids(world: tuple[SalesforceOrg, dict[str, str]]) -> None:
    org, ids = world
    assert org.query("SELECT COUNT() FROM Contact").total == 3
    assert names(org, f"SELECT Id FROM Contact WHERE Id = '{ids['c1'][:15]}'") == [ids["c1"]]


@pytest.mark.parametrize(
    ("q", "code"),
    [
        ("SELECT FROM Contact", "MALFORMED_QUERY"),
        ("SELECT Id Contact", "MALFORMED_QUERY"),
        ("SELECT Id FROM Contact WHERE", "MALFORMED_QUERY"),
        (
            "SELECT Id FROM Contact WHERE LastName = 'a' AND LastName = 'b' OR LastName = 'c'",
            "MALFORMED_QUERY",
        ),
        ("SELECT Id FROM Contact WHERE LastName = 'unterminated", "MALFORMED_QUERY"),
        ("SELECT Id FROM Contact WHERE LastName = 'bad \\q escape'", "MALFORMED_QUERY"),
        ("SELECT Id FROM Contact WHERE LastName = 'a\\%'", "MALFORMED_QUERY"),
        ("SELECT Id FROM Contact GROUP BY LastName", "MALFORMED_QUERY"),
        ("SELECT Id FROM Contact LIMIT x", "MALFORMED_QUERY"),
        ("SELECT Id FROM Contact OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE"),
        ("SELECT Id FROM Nope", "INVALID_TYPE"),
        ("SELECT Nope FROM Contact", "INVALID_FIELD"),
        ("SELECT Id FROM Contact WHERE Nope.Name = 'x'", "INVALID_FIELD"),
        ("SELECT Id FROM Event WHERE Description = 'x'", "INVALID_FIELD"),
        (
            "SELECT Id FROM Event WHERE StartDateTime > '2026-01-01'",
            "INVALID_QUERY_FILTER_OPERATOR",
        ),
        ("SELECT Id FROM Event WHERE IsPrivate = 'true'", "INVALID_QUERY_FILTER_OPERATOR"),
        ("SELECT Id FROM Event WHERE IsPrivate > true", "INVALID_QUERY_FILTER_OPERATOR"),
    ],
)
def test_Y3_errors(world: tuple[SalesforceOrg, dict[str, str]], q: str, code: str) -> None:
    org, _ = world
    with pytest.raises(ApiError) as exc:
        org.query(q)
    assert exc.value.code == code
    assert exc.value.status == 400


def test_malformed_query_names_the_position() -> None:
    with pytest.raises(esoql.SoqlError) as exc:
        esoql.parse("SELECT Id\nFROM Contact WHERE Name = = 'x'")
    assert "ERROR at Row:2:Column:27" in exc.value.message
    assert "unexpected token: '='" in exc.value.message


def test_date_literals() -> None:
    org = SalesforceOrg(now=lambda: datetime(2026, 3, 10, 12, tzinfo=UTC))
    acc = org.add_account("A")
    for days in (-400, -100, -1, 0, 1, 30, 200):
        org.add_opportunity(f"o{days}", account_id=acc,
                            close_date=date(2026, 3, 10) + timedelta(days=days))  # fmt: skip
    got = lambda q: sorted(str(r["Name"]) for r in org.query(q).records)  # noqa: E731
    assert got("SELECT Name FROM Opportunity WHERE CloseDate = TODAY") == ["o0"]
    assert got("SELECT Name FROM Opportunity WHERE CloseDate = YESTERDAY") == ["o-1"]
    assert got("SELECT Name FROM Opportunity WHERE CloseDate = LAST_N_DAYS:365") == [
        "o-1", "o-100", "o0",
    ]  # fmt: skip
    assert got("SELECT Name FROM Opportunity WHERE CloseDate = NEXT_N_DAYS:180") == ["o1", "o30"]
    assert got("SELECT Name FROM Opportunity WHERE CloseDate > NEXT_N_DAYS:180") == ["o200"]
    assert got("SELECT Name FROM Opportunity WHERE CloseDate < LAST_N_DAYS:365") == ["o-400"]


# --------------------------------------------------------------- connector escaping (L7)


def test_L7_literal_escapes() -> None:
    assert csoql.literal("o'brien") == "'o\\'brien'"
    assert csoql.literal("a\\b") == "'a\\\\b'"
    assert csoql.literal("line\nbreak\r\t") == "'line\\nbreak\\r\\t'"
    assert csoql.literal('say "hi"') == "'say \\\"hi\\\"'"
    assert csoql.literal("\x01") == "'\\u0001'"
    assert csoql.literal(None) == "null"
    assert csoql.literal(True) == "true"
    assert csoql.literal(T0) == "2026-03-10T14:00:00Z"
    assert csoql.literal(date(2026, 3, 10)) == "2026-03-10"
    assert csoql.like_literal("50%_off", prefix="%") == "'%50\\%\\_off'"
    with pytest.raises(ValueError, match="naive"):
        csoql.literal(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="identifier"):
        csoql.identifier("Name FROM User --")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_L7_any_string_round_trips_through_the_emulator_tokenizer(text: str) -> None:
    q = f"SELECT Id FROM Contact WHERE LastName = {csoql.literal(text)}"
    parsed = esoql.parse(q)
    assert isinstance(parsed.where, esoql.Cmp)
    assert isinstance(parsed.where.value, esoql.StringLit)
    assert parsed.where.value.value == text


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=20), st.text(max_size=20))
def test_L7_like_matches_only_the_literal_text(text: str, other: str) -> None:
    import re

    q = f"SELECT Id FROM Contact WHERE LastName LIKE {csoql.like_literal(text)}"
    parsed = esoql.parse(q)
    assert isinstance(parsed.where, esoql.Like)
    rx = re.compile(parsed.where.pattern.like_regex, re.IGNORECASE | re.DOTALL)
    assert rx.fullmatch(text)
    # no wildcard survives: the pattern matches exactly what a case-insensitive literal would
    literal_match = re.fullmatch(re.escape(text), other, re.IGNORECASE | re.DOTALL)
    assert bool(rx.fullmatch(other)) == bool(literal_match)


def test_chunking_respects_the_url_budget() -> None:
    values = [f"user{i}'@example.org" for i in range(5000)]
    head = "SELECT Id FROM Contact WHERE Email IN "
    chunks = list(csoql.chunk_values(values, head))
    assert sum(len(c) for c in chunks) == 5000
    for c in chunks:
        assert csoql.encoded_len(head + csoql.in_list(c)) <= csoql.MAX_QUERY_URL - 200
    # and not wastefully: each chunk but the last is nearly full
    for c in chunks[:-1]:
        assert csoql.encoded_len(head + csoql.in_list(c)) > csoql.MAX_QUERY_URL - 300
