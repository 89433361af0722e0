"""Reader for ../shared/data/libical-icalrecur_test.txt (RRULE, DTSTART, optional START-AT,
INSTANCES)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "libical-icalrecur_test.txt"


@dataclass(frozen=True)
class Case:
    line: int
    comment: str
    rrule: str
    dtstart: datetime
    date_only: bool
    start_at: datetime | None
    instances: tuple[datetime, ...] | None
    """None where libical lists no instances (`*** UNIMPLEMENTED`)."""


def parse_stamp(text: str) -> tuple[datetime, bool]:
    """A DTSTART/INSTANCES value: (datetime, is_date_only); `Z` values are aware UTC."""
    text = text.strip()
    if len(text) == 8:
        return datetime.strptime(text, "%Y%m%d"), True
    if text.endswith("Z"):
        return datetime.strptime(text[:-1], "%Y%m%dT%H%M%S").replace(tzinfo=UTC), False
    return datetime.strptime(text, "%Y%m%dT%H%M%S"), False


def load(path: Path = DATA) -> list[Case]:
    cases: list[Case] = []
    comment: list[str] = []
    fields: dict[str, str] = {}
    first_line = 0
    for n, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            comment.append(line[1:].strip())
            continue
        key, _, value = line.partition(":")
        if key == "RRULE":
            first_line = n
            fields = {}
        fields[key] = value if key != "RRULE" else line
        if key == "INSTANCES":
            dtstart, date_only = parse_stamp(fields["DTSTART"])
            start_at = parse_stamp(fields["START-AT"])[0] if "START-AT" in fields else None
            inst = (
                None
                if "UNIMPLEMENTED" in value
                else tuple(parse_stamp(v)[0] for v in value.split(",") if v.strip())
            )
            cases.append(
                Case(
                    first_line,
                    " ".join(comment),
                    fields["RRULE"],
                    dtstart,
                    date_only,
                    start_at,
                    inst,
                )
            )
            comment = []
    return cases
