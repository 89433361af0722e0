"""Ids that look like Exchange's: long base64 strings starting `AAMkA`, per-occurrence iCalUIds.

Occurrence ids encode their series master's id and original start, as the real ones do, so an
occurrence can be addressed (GET, PATCH, cancel) without having been listed first.
"""

from __future__ import annotations

import base64
import os
import struct
from datetime import UTC, datetime

_PREFIX = b"\x00\x03\x24\x00"  # base64 "AAMkA..." like Exchange store ids
_KIND_ITEM = 0x46
_KIND_OCC = 0x47
_ICAL_PREFIX = "040000008200E00074C5B7101A82E008"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _unb64(s: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(s.encode("ascii") + b"=" * (-len(s) % 4))
    except (ValueError, UnicodeEncodeError):
        return None


def new_item_id(mailbox_tag: bytes) -> str:
    """A fresh item id. `mailbox_tag` is 16 bytes that identify the mailbox."""
    raw = _PREFIX + mailbox_tag[:16].ljust(16, b"\0") + bytes([_KIND_ITEM]) + os.urandom(32)
    return _b64(raw)


def occurrence_id(master_id: str, original_start: datetime) -> str:
    """The id of one occurrence: the master's id plus its original start (UTC)."""
    master = _unb64(master_id) or master_id.encode()
    ts = int(original_start.astimezone(UTC).timestamp())
    raw = _PREFIX + bytes([_KIND_OCC]) + struct.pack(">q", ts) + master
    return _b64(raw)


def parse_occurrence_id(item_id: str) -> tuple[str, datetime] | None:
    """(master id, original start) for an occurrence id, else None."""
    raw = _unb64(item_id)
    if raw is None or len(raw) < 14 or not raw.startswith(_PREFIX) or raw[4] != _KIND_OCC:
        return None
    (ts,) = struct.unpack(">q", raw[5:13])
    master = _b64(raw[13:])
    return master, datetime.fromtimestamp(ts, UTC)


def is_well_formed(item_id: str) -> bool:
    raw = _unb64(item_id)
    return raw is not None and raw.startswith(_PREFIX) and len(raw) > 20


def new_ical_uid() -> str:
    return (_ICAL_PREFIX + os.urandom(28).hex()).upper()


def occurrence_ical_uid(master_uid: str, original_start: datetime) -> str:
    """Each occurrence has its own iCalUId (A1): the series' uid with the date spliced in."""
    d = original_start.astimezone(UTC)
    stamp = f"{d.year:04X}{d.month:02X}{d.day:02X}"
    return (master_uid[:32] + stamp + master_uid[40:]).upper()


def change_key() -> str:
    return base64.b64encode(os.urandom(24)).decode("ascii")


def opaque_token(n: int = 24) -> str:
    return _b64(os.urandom(n)).rstrip("=")
