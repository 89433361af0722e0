"""Fixtures shared by the whole suite.

Service-backed tests (PostgreSQL, Redis, RabbitMQ) run when the server is reachable and are skipped
with the reason otherwise; with `CRMCAL_REQUIRE_SERVICES=1` (set by `.ci/run`) an unreachable
service fails the test instead, so CI can never skip them silently.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from crmcal.sandbox.tls import process_tls

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"

POSTGRES_ADMIN_URL = os.environ.get(
    "CRMCAL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


SANDBOX_TLS = process_tls()
"""One CA and server certificate for the whole test process: every emulator in the suite is served
over https with it (made once, ~20 ms)."""

# Plain clients a test makes without thought (httpx's SSL_CERT_FILE, requests' REQUESTS_CA_BUNDLE)
# trust the sandbox CA, as a developer's shell would after `crmcal sandbox`. crmcal itself never
# relies on this: its connectors get an SSLContext made from the configured `ca_bundle` only, and
# tests/integration/test_https_sandbox.py proves it with these variables unset.
os.environ["SSL_CERT_FILE"] = str(SANDBOX_TLS.ca)
os.environ["REQUESTS_CA_BUNDLE"] = str(SANDBOX_TLS.ca)


def services_required() -> bool:
    return os.environ.get("CRMCAL_REQUIRE_SERVICES", "") not in ("", "0", "false", "no")


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def need_service(name: str, host: str, port: int) -> None:
    """Skip (or, when services are required, fail) unless host:port answers."""
    if reachable(host, port):
        return
    msg = f"{name} is not reachable on {host}:{port}"
    if services_required():
        pytest.fail(f"{msg}, and CRMCAL_REQUIRE_SERVICES=1 forbids skipping")
    pytest.skip(msg)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = make_url(POSTGRES_ADMIN_URL)
    need_service("PostgreSQL", admin.host or "127.0.0.1", admin.port or 5432)
    name = f"crmcal_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{(tmp_path / 'state.db').as_posix()}"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Both backends: every state-store test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))
