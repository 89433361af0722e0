"""Settings changed in the dashboard: stored as overrides, applied over the configuration file.

The configuration file (and the environment) stay the base; the dashboard stores only the keys an
admin (org settings) or a user (their own settings) changed (`crmcal.state.overrides`), and
`crmcal.service.overrides.effective_config` applies them before every cycle. `paused` is not a
form field: it is the O1 pause switch kept in `user_health.paused`.

`form_fields` and `parse_form` turn every field of `OrgSettings` / `UserSettings` into an HTML
form field and back, validated by the same pydantic models as the configuration file.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ValidationError

from crmcal.domain.settings import Blocklist, UserSettings
from crmcal.service.overrides import effective_config
from crmcal.state.overrides import (
    USER_EXCLUDED,
    load_overrides,
    paused_mailboxes,
    store_overrides,
)

__all__ = [
    "USER_EXCLUDED",
    "FormField",
    "Kind",
    "effective_config",
    "form_fields",
    "load_overrides",
    "parse_form",
    "paused_mailboxes",
    "store_overrides",
]


# -- forms ------------------------------------------------------------------------------------


class Kind(StrEnum):
    BOOL = "bool"
    TRISTATE = "tristate"
    INT = "int"
    TEXT = "text"
    CHOICE = "choice"
    LINES = "lines"
    BLOCKLIST = "blocklist"
    JSON = "json"


@dataclass(frozen=True, slots=True)
class FormField:
    name: str
    kind: Kind
    label: str
    help: str
    value: Any
    options: tuple[str, ...] = ()
    error: str = ""


def _kind(annotation: Any) -> tuple[Kind, tuple[str, ...]]:
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if annotation is bool:
        return Kind.BOOL, ()
    if origin in (typing.Union, types.UnionType) and set(args) == {bool, type(None)}:
        return Kind.TRISTATE, ()
    if annotation is int:
        return Kind.INT, ()
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        return Kind.CHOICE, tuple(m.value for m in annotation)
    if annotation is str or (origin in (typing.Union, types.UnionType) and str in args):
        return Kind.TEXT, ()
    if origin is tuple and args and args[0] is str:
        return Kind.LINES, ()
    if annotation is Blocklist:
        return Kind.BLOCKLIST, ()
    return Kind.JSON, ()


def _display(kind: Kind, value: Any) -> Any:
    if kind is Kind.LINES:
        return "\n".join(value)
    if kind is Kind.BLOCKLIST:
        return {"addresses": "\n".join(value["addresses"]), "domains": "\n".join(value["domains"])}
    if kind is Kind.JSON:
        return json.dumps(value, indent=1)
    if kind is Kind.TEXT:
        return "" if value is None else str(value)
    return value


def form_fields(
    model: type[BaseModel], current: BaseModel, errors: dict[str, str] | None = None
) -> list[FormField]:
    data = current.model_dump(mode="json")
    out = []
    for name, info in model.model_fields.items():
        if model is UserSettings and name in USER_EXCLUDED:
            continue
        kind, options = _kind(info.annotation)
        out.append(
            FormField(
                name=name,
                kind=kind,
                label=name.replace("_", " "),
                help=info.description or "",
                value=_display(kind, data[name]),
                options=options,
                error=(errors or {}).get(name, ""),
            )
        )
    return out


def _lines(text: str) -> list[str]:
    return [p.strip() for p in text.replace(",", "\n").splitlines() if p.strip()]


def parse_form(
    model: type[BaseModel], base: BaseModel, form: typing.Mapping[str, str]
) -> tuple[BaseModel | None, dict[str, str]]:
    """The submitted values, validated by `model`; (None, errors by field) when invalid."""
    values: dict[str, Any] = base.model_dump(mode="json")
    errors: dict[str, str] = {}
    for name, info in model.model_fields.items():
        if model is UserSettings and name in USER_EXCLUDED:
            continue
        kind, _ = _kind(info.annotation)
        raw = form.get(name, "")
        if kind is Kind.BOOL:
            values[name] = form.get(name) in ("on", "true", "1")
        elif kind is Kind.TRISTATE:
            values[name] = {"true": True, "false": False}.get(raw)
        elif kind is Kind.INT:
            values[name] = raw.strip()
        elif kind is Kind.TEXT:
            none_ok = type(None) in typing.get_args(info.annotation)
            values[name] = None if (none_ok and not raw.strip()) else raw.strip()
        elif kind is Kind.CHOICE:
            if name in form:  # a <select> always sends one; absent: not on this form, kept
                values[name] = raw
        elif kind is Kind.LINES:
            values[name] = _lines(raw)
        elif kind is Kind.BLOCKLIST:
            values[name] = {
                "addresses": _lines(form.get(f"{name}.addresses", "")),
                "domains": _lines(form.get(f"{name}.domains", "")),
            }
        else:
            try:
                values[name] = json.loads(raw) if raw.strip() else values[name]
            except ValueError as exc:
                errors[name] = f"not valid JSON: {exc}"
    if errors:
        return None, errors
    try:
        return model.model_validate(values), {}
    except ValidationError as exc:
        for err in exc.errors(include_url=False, include_input=False):
            key = str(err["loc"][0]) if err["loc"] else "form"
            errors.setdefault(key, err["msg"].removeprefix("Value error, "))
        return None, errors
