"""Salesforce Events as JSON, so a cycle's one org-level read can travel to Celery workers.

The domain types are frozen dataclasses of scalars, enums, dates and nested dataclasses; this
codec walks their type hints both ways (no pickle on the broker).
"""

from __future__ import annotations

import dataclasses
import types
from datetime import date, datetime
from enum import Enum
from functools import cache
from typing import Any, Union, get_args, get_origin, get_type_hints

from crmcal.domain import CrmEvent


def _enc(v: Any) -> Any:
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, Enum):
        return v.value
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {f.name: _enc(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, tuple | list):
        return [_enc(x) for x in v]
    return v


@cache
def _hints(tp: type) -> dict[str, Any]:
    return get_type_hints(tp)


def _dec(tp: Any, v: Any) -> Any:
    if v is None:
        return None
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        for arg in get_args(tp):
            if arg is not type(None):
                return _dec(arg, v)
        return v
    if origin is tuple:
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_dec(args[0], x) for x in v)
        return tuple(_dec(a, x) for a, x in zip(args, v, strict=False))
    if tp is datetime:
        return datetime.fromisoformat(v)
    if tp is date:
        return date.fromisoformat(v)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return tp(v)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        return tp(**{k: _dec(hints[k], x) for k, x in v.items() if k in hints})
    return v


def event_to_json(ev: CrmEvent) -> dict[str, Any]:
    out: dict[str, Any] = _enc(ev)
    return out


def event_from_json(d: dict[str, Any]) -> CrmEvent:
    ev: CrmEvent = _dec(CrmEvent, d)
    return ev
