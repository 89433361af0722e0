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

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"

POSTGRES_ADMIN_URL = os.environ.get(
    "CRMCAL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


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
