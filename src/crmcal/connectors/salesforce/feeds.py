"""Records of configured objects as calendar records (G4): JSON to `FeedRecord` at the edge."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from crmcal.connectors.salesforce.mapping import JsonValue, MappingError, parse_date, parse_datetime
from crmcal.domain.feeds import FeedRecord, Scalar
from crmcal.domain.settings import CalendarObject


def _flat(rec: Mapping[str, JsonValue], prefix: str = "") -> list[tuple[str, Scalar]]:
    """Fields by API name; relationship fields (`Account: {Name: ...}`) as `Account.Name`."""
    out: list[tuple[str, Scalar]] = []
    for k, v in rec.items():
        if k == "attributes":
            continue
        if isinstance(v, dict):
            out.extend(_flat(v, f"{prefix}{k}."))
        elif v is None or isinstance(v, str | int | float | bool):
            out.append((prefix + k, v))
    return out


def feed_record_from_json(rec: Mapping[str, JsonValue], obj: CalendarObject) -> FeedRecord:
    """One row of a G4 object. Raises MappingError for a row that cannot be read."""
    rid = rec.get("Id")
    if not isinstance(rid, str) or not rid:
        raise MappingError("record without Id")
    deleted = rec.get("IsDeleted") is True
    start: datetime | None
    end: datetime | None = None
    all_day = obj.date_field is not None
    if obj.date_field is not None:
        d = parse_date(rec.get(obj.date_field))
        start = datetime(d.year, d.month, d.day, tzinfo=UTC) if d is not None else None
    else:
        assert obj.start_field is not None
        assert obj.end_field is not None
        start = parse_datetime(rec.get(obj.start_field))
        end = parse_datetime(rec.get(obj.end_field))
    owner = rec.get("OwnerId")
    return FeedRecord(
        id=rid,
        owner_id=owner if isinstance(owner, str) else "",
        start=start,
        end=end,
        is_all_day=all_day,
        fields=tuple(_flat(rec)),
        is_deleted=deleted,
        system_modstamp=parse_datetime(rec.get("SystemModstamp")),
    )
