"""Y3: text that is not valid Unicode.

JSON may carry `\\ud800`-style escapes of unpaired UTF-16 surrogates (what a broken client or
a truncated multi-byte sequence leaves behind). Python decodes them into strings that cannot be
encoded as UTF-8 again, so they would fail much later (hashing, writing to the other side) and
take the whole session with them. The mappings refuse such an item at the edge instead: a
per-item error with a reason, and the session goes on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogate_at(value: object, path: str = "") -> str | None:
    """The path of the first string with an unpaired surrogate in a JSON value, else None."""
    if isinstance(value, str):
        return None if value.isascii() or not _SURROGATE.search(value) else (path or "value")
    if isinstance(value, Mapping):
        for k, v in value.items():
            hit = lone_surrogate_at(v, f"{path}.{k}" if path else str(k))
            if hit is not None:
                return hit
        return None
    if isinstance(value, list):
        for i, v in enumerate(value):
            hit = lone_surrogate_at(v, f"{path}[{i}]")
            if hit is not None:
                return hit
    return None
