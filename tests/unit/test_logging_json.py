"""`[logging]`: `json = true` writes one JSON object per log line; no secret reaches a line (Y1)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from crmcal.config import Config, load_config
from crmcal.logs import MASK, Redactor, configure_logging

GRAPH_SECRET = "graph-S3CRET-value"
SF_SECRET = "sf-Cl1ent-secret"
REFRESH = "0.AAAA-refresh-token-xyz"
DB_PASSWORD = "pg-pa55word"
ACCESS_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOi.eyJhdWQiOiJodHRwczovL2dyYXBo.c2lnbmF0dXJl"


def _cfg(tmp_path: Path, *, json_lines: bool) -> Config:
    f = tmp_path / "crmcal.toml"
    f.write_text(
        f"""
[storage]
data_dir = "{tmp_path.as_posix()}"
database_url = "postgresql+psycopg://crmcal:{DB_PASSWORD}@127.0.0.1:5432/crmcal"

[graph]
tenant_id = "t-1"
client_id = "app-1"
client_secret = "{GRAPH_SECRET}"
delegated_refresh_token = "{REFRESH}"

[salesforce]
client_id = "sf-app"
auth = "client_credentials"
client_secret = "{SF_SECRET}"

[logging]
level = "DEBUG"
json = {"true" if json_lines else "false"}
""",
        encoding="utf-8",
    )
    return load_config(f)


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _log_everything() -> None:
    log = logging.getLogger("crmcal.sync")
    log.info("token request with client_secret=%s for %s", GRAPH_SECRET, "ann@contoso.example")
    log.warning("Salesforce said no", extra={"mailbox": "ann@contoso.example", "code": 401})
    log.debug("headers {'Authorization': 'Bearer %s'}", ACCESS_TOKEN)
    log.debug('body {"refresh_token": "%s", "client_secret": "%s"}', REFRESH, SF_SECRET)
    try:
        raise RuntimeError(f"connect to postgresql://crmcal:{DB_PASSWORD}@db failed")
    except RuntimeError:
        log.exception("state store down")


def _no_secret(text: str) -> None:
    for secret in (GRAPH_SECRET, SF_SECRET, REFRESH, DB_PASSWORD, ACCESS_TOKEN):
        assert secret not in text


def test_Y1_logging_json_true_writes_one_json_object_per_line_without_secrets(
    tmp_path: Path, restore_root: None
) -> None:
    out = io.StringIO()
    configure_logging(_cfg(tmp_path, json_lines=True), stream=out)
    _log_everything()
    text = out.getvalue()
    _no_secret(text)
    lines = text.splitlines()
    assert len(lines) == 5, text  # the traceback stays inside its line
    records = [json.loads(line) for line in lines]
    assert [r["level"] for r in records] == ["INFO", "WARNING", "DEBUG", "DEBUG", "ERROR"]
    assert {r["logger"] for r in records} == {"crmcal.sync"}
    assert all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    assert (
        records[0]["message"] == f"token request with client_secret={MASK} for ann@contoso.example"
    )
    assert (records[1]["mailbox"], records[1]["code"]) == ("ann@contoso.example", 401)
    assert "Traceback" in records[4]["exception"] and MASK in records[4]["exception"]
    assert "exception" not in records[0]


def test_Y1_logging_json_false_keeps_text_lines_also_redacted(
    tmp_path: Path, restore_root: None
) -> None:
    """The same log calls with `json = false`: text lines (`time logger message`), not JSON."""
    out = io.StringIO()
    configure_logging(_cfg(tmp_path, json_lines=False), stream=out)
    _log_everything()
    text = out.getvalue()
    _no_secret(text)
    first = text.splitlines()[0]
    with pytest.raises(json.JSONDecodeError):
        json.loads(first)
    assert first.split(" ", 3)[2:] == [
        "crmcal.sync",
        f"token request with client_secret={MASK} for ann@contoso.example",
    ]
    assert "Traceback" in text  # the traceback on the following lines, as logging prints it


def test_configure_logging_twice_keeps_one_handler(tmp_path: Path, restore_root: None) -> None:
    before = len(logging.getLogger().handlers)
    configure_logging(_cfg(tmp_path, json_lines=True), stream=io.StringIO())
    configure_logging(_cfg(tmp_path, json_lines=False), stream=io.StringIO())
    assert len(logging.getLogger().handlers) == before + 1


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("Authorization: Bearer abcdefgh12345678", "Authorization: Bearer ***"),
        ("grant_type=refresh_token&refresh_token=abc.def&x=1", "refresh_token=***&x=1"),
        ('{"access_token": "tok-123456", "expires_in": 3599}', '"expires_in": 3599'),
        ("-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----", MASK),
        ("nothing secret here: ann@contoso.example", "nothing secret here: ann@contoso.example"),
    ],
)
def test_Y1_wire_shaped_secrets_are_masked(raw: str, kept: str) -> None:
    out = Redactor()(raw)
    assert kept in out
    for word in ("abcdefgh12345678", "abc.def", "tok-123456", "MIIE"):
        assert word not in out
