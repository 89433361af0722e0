"""SOQL literals, always escaped (SPEC L7, api-facts B10), and IN-list splitting.

Every value that reaches a SOQL string goes through :func:`literal` (or :func:`like_literal` for
LIKE patterns). Nothing else builds quoted SOQL text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from urllib.parse import quote_plus

_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}

MAX_SOQL_CHARS = 100_000
"""Salesforce's default maximum SOQL statement length."""
MAX_QUERY_URL = 16_000
"""Budget for ``/services/data/vNN.N/query?q=<url-encoded SOQL>`` (URIs over ~16 KB are refused)."""

SoqlValue = str | int | float | bool | date | datetime | None


def escape(text: str) -> str:
    """Backslash-escape a string for use inside single quotes."""
    out: list[str] = []
    for ch in text:
        rep = _ESCAPES.get(ch)
        if rep is not None:
            out.append(rep)
        elif ord(ch) < 0x20 or ch in "\u2028\u2029\x7f":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def literal(value: SoqlValue) -> str:
    """A SOQL literal for any supported Python value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not allowed in SOQL")
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    return "'" + escape(value) + "'"


def like_literal(text: str, *, prefix: str = "", suffix: str = "") -> str:
    """A LIKE pattern: ``text`` matched literally (``%``/``_`` escaped) between wildcards."""
    body = escape(text).replace("%", "\\%").replace("_", "\\_")
    return "'" + prefix + body + suffix + "'"


def in_list(values: Iterable[SoqlValue]) -> str:
    return "(" + ",".join(literal(v) for v in values) + ")"


def encoded_len(text: str) -> int:
    return len(quote_plus(text, safe=""))


def chunk_values(
    values: Sequence[SoqlValue],
    head: str,
    tail: str = "",
    *,
    max_encoded: int = MAX_QUERY_URL - 200,
) -> Iterator[list[SoqlValue]]:
    """Split ``values`` so that ``head + in_list(chunk) + tail`` stays under the limits.

    The measure is the URL-encoded length (what goes on the wire) and the raw SOQL length.
    """
    base_enc = encoded_len(head + "()" + tail)
    base_raw = len(head + "()" + tail)
    chunk: list[SoqlValue] = []
    enc = base_enc
    raw = base_raw
    for v in values:
        lit = literal(v)
        add_enc = encoded_len(lit) + (3 if chunk else 0)
        add_raw = len(lit) + (1 if chunk else 0)
        if chunk and (enc + add_enc > max_encoded or raw + add_raw > MAX_SOQL_CHARS):
            yield chunk
            chunk, enc, raw = [], base_enc, base_raw
            add_enc, add_raw = encoded_len(lit), len(lit)
        if base_enc + add_enc > max_encoded:
            raise ValueError("a single value is too long for a query")
        chunk.append(v)
        enc += add_enc
        raw += add_raw
    if chunk:
        yield chunk


def chunk_terms(
    terms: Sequence[str],
    head: str,
    tail: str,
    joiner: str,
    *,
    max_encoded: int = MAX_QUERY_URL - 200,
) -> Iterator[list[str]]:
    """Split already-rendered condition terms (joined by ``joiner``) under the same limits."""
    base = encoded_len(head + tail)
    jl = encoded_len(joiner)
    chunk: list[str] = []
    size = base
    for t in terms:
        add = encoded_len(t) + (jl if chunk else 0)
        if chunk and size + add > max_encoded:
            yield chunk
            chunk, size = [], base
            add = encoded_len(t)
        chunk.append(t)
        size += add
    if chunk:
        yield chunk


_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")


def identifier(name: str) -> str:
    """A field or object name: identifiers can't be quoted in SOQL, so they are validated."""
    if not _IDENT.match(name) or len(name) > 255:
        raise ValueError(f"not a SOQL identifier: {name!r}")
    return name
