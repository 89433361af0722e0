"""Differential test: random WHERE clauses over random rows, emulator vs a tiny Python model.

Catches parser mistakes (precedence, NOT, IN, LIKE wildcards, null handling) that example tests
miss. The model encodes the documented semantics: text comparisons are case-insensitive, `!=`
matches nulls, comparisons with null are false.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from crmcal.connectors.salesforce.soql import like_literal, literal
from crmcal.sandbox.salesforce import SalesforceOrg

WORDS = ["ann", "Ann", "bob", "a_b", "a%b", "o'k", "x\\y", "", "ANNA"]
Row = dict[str, str | None]


@dataclass
class Expr:
    soql: str
    test: Callable[[Row], bool]


def _eq(a: str | None, b: str) -> bool:
    return a is not None and a.casefold() == b.casefold()


def leaf() -> st.SearchStrategy[Expr]:
    field = st.sampled_from(["LastName", "Title"])
    word = st.sampled_from([w for w in WORDS if w])
    eq = st.builds(lambda f, w: Expr(f"{f} = {literal(w)}", lambda r: _eq(r[f], w)), field, word)
    ne = st.builds(
        lambda f, w: Expr(f"{f} != {literal(w)}", lambda r: not _eq(r[f], w)), field, word
    )
    null = st.builds(lambda f: Expr(f"{f} = null", lambda r: r[f] is None), field)
    in_ = st.builds(
        lambda f, ws: Expr(
            f"{f} IN ({','.join(literal(w) for w in ws)})", lambda r: any(_eq(r[f], w) for w in ws)
        ),
        field,
        st.lists(word, min_size=1, max_size=3),
    )
    like = st.builds(
        lambda f, w: Expr(
            f"{f} LIKE {like_literal(w, suffix='%')}",
            lambda r: r[f] is not None and r[f].casefold().startswith(w.casefold()),
        ),
        field,
        word,
    )
    return st.one_of(eq, ne, null, in_, like)


def combine(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    def both(op: str, a: Expr, b: Expr) -> Expr:
        if op == "AND":
            return Expr(f"({a.soql} AND {b.soql})", lambda r: a.test(r) and b.test(r))
        return Expr(f"({a.soql} OR {b.soql})", lambda r: a.test(r) or b.test(r))

    return st.one_of(
        st.builds(both, st.sampled_from(["AND", "OR"]), children, children),
        st.builds(lambda a: Expr(f"(NOT {a.soql})", lambda r: not a.test(r)), children),
    )


ROWS = st.lists(
    st.fixed_dictionaries(
        {"LastName": st.sampled_from([w for w in WORDS if w]),
         "Title": st.one_of(st.none(), st.sampled_from(WORDS))}
    ),
    min_size=1,
    max_size=12,
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(ROWS, st.recursive(leaf(), combine, max_leaves=6))
def test_where_matches_model(rows: list[Row], expr: Expr) -> None:
    org = SalesforceOrg()
    ids = [org.add_contact(str(r["LastName"]), Title=r["Title"]) for r in rows]
    # the emulator stores "" as null, like Salesforce
    model_rows = [{k: (v or None) for k, v in r.items()} for r in rows]
    got = {str(rec["Id"]) for rec in org.query(f"SELECT Id FROM Contact WHERE {expr.soql}").records}
    want = {i for i, r in zip(ids, model_rows, strict=True) if expr.test(r)}
    assert got == want, expr.soql
    assert re.search(r"\bWHERE\b", f"WHERE {expr.soql}")
