"""Where crmcal's log lines go and what they look like (`[logging]`; SPEC Y1).

`logging.json = false` (the default) keeps the text lines `crmcal run` always wrote
(`time logger message`); `true` writes one JSON object per line (`time`, `level`, `logger`,
`message`, `exception` when there is one, and any `extra=` fields), for a log shipper.

Either way every line goes through `redact` first (Y1): the configuration's own secrets (client
secrets, the private key, refresh tokens, the session secret, passwords in the database and broker
URLs) are replaced by `***` wherever they appear, and so are the shapes a secret takes on the
wire (`Bearer ...`, `access_token=...`, `"client_secret": "..."`, PEM private keys, JWTs), for
tokens crmcal never had in its configuration (the access tokens msal fetches).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any
from urllib.parse import urlsplit

from crmcal.config import Config

MASK = "***"

_WIRE_SECRETS = (
    # PEM private keys, whole.
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
    # Authorization headers.
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"),
    # key=value and "key": "value" for the OAuth and password parameters.
    re.compile(
        r"(?i)([\"']?\b(?:access_token|refresh_token|id_token|client_secret|client_assertion|"
        r"assertion|password|session_secret|private_key)\b[\"']?\s*[:=]\s*[\"']?)([^\"'&\s,}]+)"
    ),
    # JWTs (three base64url parts, the first one a JSON header).
    re.compile(r"\beyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*"),
)

_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)


def config_secrets(cfg: Config) -> list[str]:
    """Every secret value the configuration holds (inline or read from its file)."""
    found = [
        cfg.graph.secret(),
        cfg.graph.delegated_token(),
        cfg.salesforce.secret(),
        cfg.salesforce.key(),
        cfg.server.session_secret,
        cfg.web.secret(),
    ]
    values = [s.get_secret_value() for s in found if s is not None]
    for url in (cfg.storage.url(), cfg.celery.broker_url):
        try:
            password = urlsplit(url).password
        except ValueError:
            password = None
        if password:
            values.append(password)
    return [v for v in values if len(v) >= 4]


class Redactor:
    """Replaces known secret values and secret-shaped strings by `***`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self._known = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for s in self._known:
            if s in text:
                text = text.replace(s, MASK)
        for pattern in _WIRE_SECRETS:
            text = pattern.sub(_mask_match, text)
        return text


def _mask_match(m: re.Match[str]) -> str:
    if m.re.groups >= 2:
        return f"{m.group(1)}{MASK}"
    if m.re.groups == 1:
        return f"{m.group(1)} {MASK}"
    return MASK


class TextFormatter(logging.Formatter):
    """`time logger message`, redacted (the format `crmcal run` always had)."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__("%(asctime)s %(name)s %(message)s")
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line, redacted."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self._redact(record.getMessage()),
        }
        if record.exc_info:
            out["exception"] = self._redact(self.formatException(record.exc_info))
        elif record.exc_text:
            out["exception"] = self._redact(record.exc_text)
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in out:
                out[key] = _plain(value, self._redact)
        return json.dumps(out, ensure_ascii=False, default=str)


def _plain(value: Any, redact: Redactor) -> Any:
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


_HANDLER_MARK = "_crmcal_handler"


def configure_logging(cfg: Config, *, stream: IO[str] | None = None) -> logging.Handler:
    """Install crmcal's one handler on the root logger (replacing an earlier one of ours)."""
    redact = Redactor(config_secrets(cfg))
    handler = logging.StreamHandler(stream or sys.stderr)
    formatter = JsonFormatter(redact) if cfg.logging.json_format else TextFormatter(redact)
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(cfg.logging.level.value)
    return handler
