"""Y1 at rest: secrets crmcal itself keeps (webhook `clientState`s, the generated dashboard
session key) are stored encrypted, with AES-256-GCM under a key from the configuration
(`storage.secret_key`, its `_file`, or `CRMCAL_STORAGE__SECRET_KEY`), else a key generated into
`<data_dir>/at-rest.key` (0600). Stored values look like `enc1:<base64(nonce | ciphertext)>`.

Columns typed `Encrypted` encrypt on write and decrypt on read with the process's key
(`use_key`). A value written before encryption (no `enc1:` prefix) reads as it is and is
encrypted at its next write.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

PREFIX = "enc1:"


class AtRestError(Exception):
    """A stored secret cannot be decrypted (another key, or the value was altered)."""


class Cipher:
    def __init__(self, material: str) -> None:
        if not material:
            raise ValueError("the at-rest key is empty")
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"crmcal at-rest v1"
        ).derive(material.encode("utf-8"))
        self._aead = AESGCM(key)

    def seal(self, plain: str) -> str:
        nonce = os.urandom(12)
        ct = self._aead.encrypt(nonce, plain.encode("utf-8"), b"crmcal")
        return PREFIX + base64.urlsafe_b64encode(nonce + ct).decode("ascii")

    def open(self, stored: str) -> str:
        if not stored.startswith(PREFIX):
            return stored  # written before encryption; sealed at its next write
        try:
            raw = base64.urlsafe_b64decode(stored[len(PREFIX) :].encode("ascii"))
            return self._aead.decrypt(raw[:12], raw[12:], b"crmcal").decode("utf-8")
        except (InvalidTag, ValueError) as exc:
            raise AtRestError("a stored secret does not decrypt with this key") from exc


_current: Cipher | None = None


def use_key(material: str) -> Cipher:
    """Make `material` the process's at-rest key (crmcal serve calls this at start)."""
    global _current
    _current = Cipher(material)
    return _current


def current() -> Cipher:
    if _current is None:
        raise AtRestError("no at-rest key is set (storage.secret_key)")
    return _current


def key_material(configured: str | None, data_dir: Path) -> str:
    """The configured key, else the one in `<data_dir>/at-rest.key` (made on first use)."""
    if configured:
        return configured
    path = data_dir / "at-rest.key"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(value)
    return value


class Encrypted(TypeDecorator[str]):
    """A string column stored sealed (see the module docstring)."""

    impl = String(512)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else current().seal(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else current().open(value)
