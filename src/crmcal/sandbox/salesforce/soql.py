"""A SOQL subset: tokenizer, recursive-descent parser and evaluator (emulator side).

Supported: ``SELECT f1, Rel.f2 | COUNT() FROM Obj [WHERE cond] [ORDER BY f [ASC|DESC]
[NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n]``; conditions with AND/OR/NOT and parentheses,
``= != <> < > <= >=``, ``[NOT] IN (...)``, ``LIKE``; literals: quoted strings with the escapes of
api-facts B10, numbers, ``true``/``false``/``null``, date and datetime literals and the date
literals TODAY, YESTERDAY, TOMORROW, LAST_N_DAYS:n, NEXT_N_DAYS:n. As in Salesforce, AND and OR
can't be mixed at one level without parentheses. Anything else is ``MALFORMED_QUERY`` with the
row and column of the offending token.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

from crmcal.sandbox.salesforce.schema import FieldDef

Value = str | int | float | bool | date | datetime | None
Record = dict[str, Value]


class SoqlError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# ---------------------------------------------------------------------------------------- tokens

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\dT]))
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),:])
  | (?P<string>')
    """,
    re.VERBOSE,
)

_ESCAPES = {
    "'": "'",
    '"': '"',
    "\\": "\\",
    "n": "\n",
    "N": "\n",
    "r": "\r",
    "R": "\r",
    "t": "\t",
    "T": "\t",
    "b": "\b",
    "B": "\b",
    "f": "\f",
    "F": "\f",
}


@dataclass(frozen=True, slots=True)
class StringLit:
    value: str
    like_regex: str
    """The literal as a LIKE pattern (``%``/``_`` wildcards, ``\\%``/``\\_`` literal)."""
    has_like_escape: bool


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    pos: int
    lit: StringLit | None = None


def _err_at(soql: str, pos: int, detail: str) -> SoqlError:
    line = soql.count("\n", 0, pos) + 1
    col = pos - (soql.rfind("\n", 0, pos) + 1) + 1
    snippet = soql.splitlines()[line - 1] if soql else ""
    msg = f"\n{snippet}\n{' ' * (col - 1)}^\nERROR at Row:{line}:Column:{col}\n{detail}"
    return SoqlError("MALFORMED_QUERY", msg)


def _read_string(soql: str, start: int) -> tuple[StringLit, int]:
    i = start + 1
    out: list[str] = []
    rx: list[str] = []
    has_like_escape = False
    while i < len(soql):
        c = soql[i]
        if c == "'":
            return StringLit("".join(out), "".join(rx), has_like_escape), i + 1
        if c == "\\":
            if i + 1 >= len(soql):
                break
            n = soql[i + 1]
            if n in _ESCAPES:
                out.append(_ESCAPES[n])
                rx.append(re.escape(_ESCAPES[n]))
                i += 2
                continue
            if n in "%_":
                has_like_escape = True
                out.append("\\" + n)
                rx.append(re.escape(n))
                i += 2
                continue
            if n == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", soql[i + 2 : i + 6]):
                ch = chr(int(soql[i + 2 : i + 6], 16))
                out.append(ch)
                rx.append(re.escape(ch))
                i += 6
                continue
            raise _err_at(
                soql,
                i,
                f"Invalid string literal '{soql[start : i + 2]}'. Illegal character sequence "
                f"'\\{n}' in string literal.",
            )
        out.append(c)
        rx.append(".*" if c == "%" else "." if c == "_" else re.escape(c))
        i += 1
    raise _err_at(soql, start, "line 1:0 unterminated string literal")


def tokenize(soql: str) -> list[Token]:
    toks: list[Token] = []
    i = 0
    while i < len(soql):
        if soql[i] == "'":
            lit, j = _read_string(soql, i)
            toks.append(Token("string", soql[i:j], i, lit))
            i = j
            continue
        m = _TOKEN_RE.match(soql, i)
        if not m:
            raise _err_at(soql, i, f"unexpected token: '{soql[i]}'")
        kind = m.lastgroup or ""
        if kind != "ws":
            toks.append(Token(kind, m.group(), i))
        i = m.end()
    toks.append(Token("eof", "<EOF>", len(soql)))
    return toks


# ------------------------------------------------------------------------------------------ AST

Path = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DateRange:
    start: datetime
    end: datetime
    """Half-open, UTC."""


Literal_ = str | int | float | bool | date | datetime | DateRange | StringLit | None


@dataclass(frozen=True, slots=True)
class Cmp:
    path: Path
    op: str
    value: Literal_
    pos: int


@dataclass(frozen=True, slots=True)
class InList:
    path: Path
    values: tuple[Literal_, ...]
    negate: bool
    pos: int


@dataclass(frozen=True, slots=True)
class Like:
    path: Path
    pattern: StringLit
    pos: int


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str  # "AND" | "OR"
    items: tuple[Cond, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Cond


Cond = Cmp | InList | Like | BoolOp | Not


@dataclass(frozen=True, slots=True)
class OrderItem:
    path: Path
    ascending: bool
    nulls_first: bool


@dataclass(frozen=True, slots=True)
class Query:
    fields: tuple[Path, ...]
    sobject: str
    where: Cond | None
    order: tuple[OrderItem, ...]
    limit: int | None
    offset: int | None
    count_only: bool


_KEYWORDS = {
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC", "DESC",
    "NULLS", "FIRST", "LAST", "LIMIT", "OFFSET", "NULL", "TRUE", "FALSE", "GROUP", "HAVING",
    "WITH", "FOR", "INCLUDES", "EXCLUDES", "USING",
}  # fmt: skip


class _Parser:
    def __init__(self, soql: str, now: datetime) -> None:
        self.soql = soql
        self.toks = tokenize(soql)
        self.i = 0
        self.now = now

    # helpers
    def peek(self, k: int = 0) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self) -> Token:
        t = self.toks[self.i]
        self.i = min(self.i + 1, len(self.toks) - 1)
        return t

    def is_kw(self, word: str, k: int = 0) -> bool:
        t = self.peek(k)
        return t.kind == "ident" and t.text.upper() == word

    def fail(self, t: Token | None = None, detail: str | None = None) -> SoqlError:
        t = t or self.peek()
        return _err_at(self.soql, t.pos, detail or f"unexpected token: '{t.text}'")

    def expect_kw(self, word: str) -> Token:
        if not self.is_kw(word):
            raise self.fail()
        return self.next()

    def expect(self, kind: str, text: str | None = None) -> Token:
        t = self.peek()
        if t.kind != kind or (text is not None and t.text != text):
            raise self.fail()
        return self.next()

    def path(self) -> tuple[Path, int]:
        t = self.peek()
        if t.kind != "ident" or t.text.upper() in _KEYWORDS:
            raise self.fail()
        self.next()
        return tuple(t.text.split(".")), t.pos

    # grammar
    def query(self) -> Query:
        self.expect_kw("SELECT")
        fields: list[Path] = []
        count_only = False
        if self.is_kw("COUNT") and self.peek(1).text == "(":
            self.next()
            self.next()
            self.expect("punct", ")")
            count_only = True
        else:
            while True:
                p, _ = self.path()
                if p in fields:
                    raise SoqlError("MALFORMED_QUERY", f"duplicate field selected: {'.'.join(p)}")
                fields.append(p)
                if self.peek().text != ",":
                    break
                self.next()
        self.expect_kw("FROM")
        obj = self.peek()
        if obj.kind != "ident" or "." in obj.text or obj.text.upper() in _KEYWORDS:
            raise self.fail()
        self.next()
        where = None
        if self.is_kw("WHERE"):
            self.next()
            where = self.condition()
        order: list[OrderItem] = []
        if self.is_kw("ORDER"):
            self.next()
            self.expect_kw("BY")
            while True:
                p, _ = self.path()
                asc = True
                if self.is_kw("ASC"):
                    self.next()
                elif self.is_kw("DESC"):
                    self.next()
                    asc = False
                nulls_first = asc
                if self.is_kw("NULLS"):
                    self.next()
                    if self.is_kw("FIRST"):
                        nulls_first = True
                    elif self.is_kw("LAST"):
                        nulls_first = False
                    else:
                        raise self.fail()
                    self.next()
                order.append(OrderItem(p, asc, nulls_first))
                if self.peek().text != ",":
                    break
                self.next()
        limit = offset = None
        if self.is_kw("LIMIT"):
            self.next()
            limit = self.integer()
        if self.is_kw("OFFSET"):
            self.next()
            offset = self.integer()
            if offset > 2000:
                raise SoqlError("NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset allowed is 2000")
        if self.peek().kind != "eof":
            raise self.fail()
        return Query(tuple(fields), obj.text, where, tuple(order), limit, offset, count_only)

    def integer(self) -> int:
        t = self.peek()
        if t.kind != "number" or not t.text.isdigit():
            raise self.fail()
        self.next()
        return int(t.text)

    def condition(self) -> Cond:
        first = self.unary()
        op: str | None = None
        items = [first]
        while self.is_kw("AND") or self.is_kw("OR"):
            t = self.next()
            word = t.text.upper()
            if op is not None and word != op:
                raise self.fail(t)
            op = word
            items.append(self.unary())
        if op is None:
            return first
        return BoolOp(op, tuple(items))

    def unary(self) -> Cond:
        if self.is_kw("NOT"):
            self.next()
            return Not(self.unary())
        if self.peek().text == "(":
            self.next()
            c = self.condition()
            self.expect("punct", ")")
            return c
        return self.comparison()

    def comparison(self) -> Cond:
        path, pos = self.path()
        t = self.peek()
        if t.kind == "op":
            self.next()
            op = "!=" if t.text == "<>" else t.text
            return Cmp(path, op, self.literal(), pos)
        if self.is_kw("LIKE"):
            self.next()
            s = self.peek()
            if s.kind != "string" or s.lit is None:
                raise self.fail()
            self.next()
            return Like(path, s.lit, pos)
        negate = False
        if self.is_kw("NOT") and self.is_kw("IN", 1):
            self.next()
            negate = True
        if self.is_kw("IN"):
            self.next()
            self.expect("punct", "(")
            values = [self.literal()]
            while self.peek().text == ",":
                self.next()
                values.append(self.literal())
            self.expect("punct", ")")
            return InList(path, tuple(values), negate, pos)
        raise self.fail()

    def literal(self) -> Literal_:
        t = self.next()
        if t.kind == "string":
            assert t.lit is not None
            return t.lit
        if t.kind == "number":
            return float(t.text) if "." in t.text else int(t.text)
        if t.kind == "date":
            try:
                return date.fromisoformat(t.text)
            except ValueError:
                raise self.fail(t, f"line 1:{t.pos} no viable alternative at character") from None
        if t.kind == "datetime":
            try:
                return datetime.fromisoformat(t.text.replace("Z", "+00:00")).astimezone(UTC)
            except ValueError:
                raise self.fail(t, f"line 1:{t.pos} no viable alternative at character") from None
        if t.kind == "ident":
            word = t.text.upper()
            if word == "NULL":
                return None
            if word in ("TRUE", "FALSE"):
                return word == "TRUE"
            rng = self.date_literal(word, t)
            if rng is not None:
                return rng
        raise self.fail(t)

    def date_literal(self, word: str, t: Token) -> DateRange | None:
        today = datetime.combine(self.now.astimezone(UTC).date(), time(), UTC)
        day = timedelta(days=1)
        simple = {
            "TODAY": (today, today + day),
            "YESTERDAY": (today - day, today),
            "TOMORROW": (today + day, today + 2 * day),
        }
        if word in simple:
            a, b = simple[word]
            return DateRange(a, b)
        if word in ("LAST_N_DAYS", "NEXT_N_DAYS"):
            if self.peek().text != ":":
                raise self.fail()
            self.next()
            n = self.integer()
            if word == "LAST_N_DAYS":
                return DateRange(today - n * day, today + day)
            return DateRange(today + day, today + (n + 1) * day)
        return None


def parse(soql: str, now: datetime | None = None) -> Query:
    if not soql.strip():
        raise SoqlError("MALFORMED_QUERY", "unexpected token: <EOF>")
    return _Parser(soql, now or datetime.now(UTC)).query()


# ------------------------------------------------------------------------------------ evaluation


class FieldResolver(Protocol):
    """How the evaluator learns a path's field and reads it from a row (relationships too)."""

    def field_for(self, sobject: str, path: Path) -> FieldDef: ...

    def getter(self, sobject: str, path: Path) -> Callable[[Record], Value]: ...


_ID_CHECK = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def id15_of(value: str) -> str | None:
    """The 15-character key of an id literal, or None if it is malformed: 15 letters and
    digits, or 18 whose last three are from the checksum alphabet ``A-Z0-5``. Matching stays
    case-sensitive on the first 15 (a lower-cased 18-character id finds nothing in SOQL:
    salesforce.stackexchange.com/questions/50163), the stricter reading."""
    if len(value) not in (15, 18) or not value.isascii() or not value.isalnum():
        return None
    if len(value) == 18 and any(_ID_CHECK.find(c.upper()) < 0 for c in value[15:]):
        return None
    return value[:15]


_TEXT = {"id", "string", "textarea", "combobox", "picklist", "email", "url", "phone", "reference"}
_NUM = {"int", "double", "currency"}


def _type_error(f: FieldDef, lit: Literal_) -> SoqlError:
    if f.type in ("datetime", "date"):
        want = "dateTime" if f.type == "datetime" else "date"
        return SoqlError(
            "INVALID_QUERY_FILTER_OPERATOR",
            f"value of filter criterion for field '{f.name}' must be of type {want} and should "
            "not be enclosed in quotes",
        )
    return SoqlError(
        "INVALID_QUERY_FILTER_OPERATOR",
        f"value of filter criterion for field '{f.name}' must be of type {f.type}",
    )


def _norm(f: FieldDef, lit: Literal_) -> Value | DateRange:
    """Convert a literal to the field's comparable form, or raise a filter type error."""
    if lit is None:
        return None
    if f.type in _TEXT:
        if isinstance(lit, StringLit):
            if lit.has_like_escape:
                raise SoqlError(
                    "MALFORMED_QUERY",
                    f"Invalid string literal. Illegal character sequence in '{lit.value}'",
                )
            if f.type in ("id", "reference"):
                # A malformed id literal fails the whole query, not just the term (restforce
                # #557: "invalid ID field" comes back as INVALID_QUERY_FILTER_OPERATOR).
                short = id15_of(lit.value)
                if short is None:
                    raise SoqlError(
                        "INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {lit.value}"
                    )
                return short
            return lit.value.casefold()
        raise _type_error(f, lit)
    if f.type == "boolean":
        if isinstance(lit, bool):
            return lit
        raise _type_error(f, lit)
    if f.type in _NUM:
        if isinstance(lit, int | float) and not isinstance(lit, bool):
            return lit
        raise _type_error(f, lit)
    if f.type == "datetime":
        if isinstance(lit, datetime | DateRange):
            return lit
        raise _type_error(f, lit)
    if f.type == "date":
        if isinstance(lit, DateRange):
            return lit
        if isinstance(lit, date) and not isinstance(lit, datetime):
            return lit
        raise _type_error(f, lit)
    raise SoqlError("INVALID_FIELD", f"field '{f.name}' can not be filtered in a query call")


def _row_norm(f: FieldDef) -> Callable[[Value], Value]:
    if f.type in ("id", "reference"):
        return lambda v: v[:15] if isinstance(v, str) else v
    if f.type in _TEXT:
        return lambda v: v.casefold() if isinstance(v, str) else v
    return lambda v: v


def _range_bounds(f: FieldDef, r: DateRange) -> tuple[date | datetime, date | datetime]:
    if f.type == "date":
        return r.start.date(), r.end.date()
    return r.start, r.end


_OPS: dict[str, Callable[[object, object], bool]] = {
    "<": lambda a, b: a < b,  # type: ignore[operator]
    ">": lambda a, b: a > b,  # type: ignore[operator]
    "<=": lambda a, b: a <= b,  # type: ignore[operator]
    ">=": lambda a, b: a >= b,  # type: ignore[operator]
}


def compile_cond(cond: Cond, sobject: str, res: FieldResolver) -> Callable[[Record], bool]:
    if isinstance(cond, BoolOp):
        parts = [compile_cond(c, sobject, res) for c in cond.items]
        if cond.op == "AND":
            return lambda r: all(p(r) for p in parts)
        return lambda r: any(p(r) for p in parts)
    if isinstance(cond, Not):
        inner = compile_cond(cond.item, sobject, res)
        return lambda r: not inner(r)
    f = res.field_for(sobject, cond.path)
    if not f.filterable:
        raise SoqlError("INVALID_FIELD", f"field '{f.name}' can not be filtered in a query call")
    get = res.getter(sobject, cond.path)
    rn = _row_norm(f)
    if isinstance(cond, Like):
        if f.type not in _TEXT:
            raise SoqlError(
                "INVALID_QUERY_FILTER_OPERATOR",
                f"invalid operator on {f.type} field: LIKE",
            )
        rx = re.compile(cond.pattern.like_regex, re.IGNORECASE | re.DOTALL)

        def like(r: Record) -> bool:
            v = get(r)
            return isinstance(v, str) and rx.fullmatch(v) is not None

        return like
    if isinstance(cond, InList):
        vals = [_norm(f, v) for v in cond.values]
        if any(isinstance(v, DateRange) for v in vals):
            raise SoqlError("MALFORMED_QUERY", "date literals are not supported in IN lists")
        vset = frozenset(vals)
        if cond.negate:
            return lambda r: rn(get(r)) not in vset
        return lambda r: rn(get(r)) in vset
    assert isinstance(cond, Cmp)
    val = _norm(f, cond.value)
    op = cond.op
    if isinstance(val, DateRange):
        lo, hi = _range_bounds(f, val)
        table: dict[str, Callable[[object], bool]] = {
            "=": lambda v: lo <= v < hi,  # type: ignore[operator]
            "!=": lambda v: not (lo <= v < hi),  # type: ignore[operator]
            "<": lambda v: v < lo,  # type: ignore[operator]
            "<=": lambda v: v < hi,  # type: ignore[operator]
            ">": lambda v: v >= hi,  # type: ignore[operator]
            ">=": lambda v: v >= lo,  # type: ignore[operator]
        }
        test = table[op]

        def rng(r: Record) -> bool:
            v = get(r)
            if v is None:
                return op == "!="
            return test(v)

        return rng
    if val is None:
        if op == "=":
            return lambda r: get(r) is None
        if op == "!=":
            return lambda r: get(r) is not None
        raise SoqlError("INVALID_QUERY_FILTER_OPERATOR", f"invalid operator {op} with null")
    if op == "=":
        return lambda r: rn(get(r)) == val
    if op == "!=":
        return lambda r: rn(get(r)) != val
    if f.type == "boolean":
        raise SoqlError("INVALID_QUERY_FILTER_OPERATOR", f"invalid operator on boolean: {op}")
    fn = _OPS[op]

    def cmp(r: Record) -> bool:
        v = rn(get(r))
        return v is not None and fn(v, val)

    return cmp


def indexable_terms(cond: Cond | None) -> list[Cmp | InList]:
    """Top-level AND terms usable to narrow candidates through an index (``=`` or ``IN``)."""
    if cond is None:
        return []
    if isinstance(cond, Cmp | InList):
        if isinstance(cond, InList) and cond.negate:
            return []
        if isinstance(cond, Cmp) and cond.op != "=":
            return []
        return [cond]
    if isinstance(cond, BoolOp) and cond.op == "AND":
        out: list[Cmp | InList] = []
        for c in cond.items:
            out.extend(indexable_terms(c))
        return out
    return []


def term_values(term: Cmp | InList) -> list[str] | None:
    vals = [term.value] if isinstance(term, Cmp) else list(term.values)
    out: list[str] = []
    for v in vals:
        if not isinstance(v, StringLit) or v.has_like_escape:
            return None
        out.append(v.value)
    return out


def sort_rows(
    rows: list[Record], order: Sequence[OrderItem], sobject: str, res: FieldResolver
) -> list[Record]:
    for item in reversed(order):
        f = res.field_for(sobject, item.path)
        if not f.sortable:
            raise SoqlError("INVALID_FIELD", f"field '{f.name}' can not be sorted in a query call")
        get = res.getter(sobject, item.path)
        rn = _row_norm(f)
        present = [r for r in rows if get(r) is not None]
        nulls = [r for r in rows if get(r) is None]
        present.sort(key=lambda r: rn(get(r)), reverse=not item.ascending)  # type: ignore[arg-type,return-value]
        rows = nulls + present if item.nulls_first else present + nulls
    return rows
