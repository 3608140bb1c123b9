"""Shared fixtures: a movable clock, database helpers, personas, worker processes.

The personas: `customer` (an order's contact, no account), `staff`, `superuser`, `agent` (signs its
callbacks), and `outsider` (signed in, neither staff nor a customer)."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection, connections

from orchestration import clock as engine_clock
from tests.support.briefs import ORDER_BRIEF
from tests.support.personas import Agent, Customer

ROOT = Path(__file__).resolve().parent.parent

# What the `agent` persona signs with where a folder sets no WEBHOOK_SECRET of its own.
AGENT_SECRET = "whsec_" + base64.b64encode(b"agent-test-key-0123456789abcdef0").decode()

# Test actions and workflows must exist in this process too.
import tests.actions  # noqa: E402, F401

# --- Personas: one of each, the same one whichever folder's test asks --------------------------


@pytest.fixture
def superuser(db):
    """Staff with every permission: the back office as its owner sees it."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_superuser("root", "root@studio.example", "pw-root-123")


@pytest.fixture
def staff(db):
    """A member of staff with no permission but what a test grants: signs in to the admin, may call
    the staff API routes with a token."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user("alice", "alice@studio.example", "pw-alice-123", is_staff=True)


@pytest.fixture
def outsider(db):
    """A signed-in user who is not staff (a customer has no account: the status link is theirs)."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user("outsider", "out@example.com", "pw-out-123")


@pytest.fixture
def customer(db) -> Customer:
    """An order's customer: the contact of an unpaid order (tests/support/briefs.py ORDER_BRIEF), with
    a client of their own for the status page the link opens."""
    from orders.services import project_create

    return Customer(project_create(**ORDER_BRIEF))


@pytest.fixture
def agent(settings) -> Agent:
    """An agent calling back: signs with the secret the gateway checks (WEBHOOK_SECRET; a test one
    when the folder sets none)."""
    if not settings.WEBHOOK_SECRET:
        settings.WEBHOOK_SECRET = AGENT_SECRET
    return Agent(settings.WEBHOOK_SECRET)


class FakeClock:
    """Wall and monotonic time that only move when the test says so."""

    def __init__(self) -> None:
        self.wall = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
        self.mono = 1000.0

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    fake = FakeClock()
    engine_clock.set_clock(now=fake.now, monotonic=fake.monotonic)
    try:
        yield fake
    finally:
        engine_clock.set_clock()


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


postgres_only = pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").split(":", 1)[0] not in {"postgres", "postgresql"},
    reason="needs PostgreSQL (SKIP LOCKED, LISTEN/NOTIFY): set DATABASE_URL; CI runs it",
)


@pytest.fixture(autouse=True)
def _health_probes_afresh() -> None:
    """Each test's health checks query the database themselves: gateway/health.py lets one
    successful probe answer for a second, which would carry over from the test before."""
    from gateway.health import forget_last_probe

    forget_last_probe()


def database_url_of_test_db() -> str:
    """The URL of the database the tests run on, for worker processes started by a test."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def worker_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url_of_test_db(),
            "ENGINE_ACTION_MODULES": "tests.actions",
            "ENGINE_POLL_INTERVAL_SECONDS": "0.1",
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
    )
    env.update(extra)
    return env


def start_worker(*args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "run_worker", *args],
        env=worker_env(**env),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def unreachable_database(tmp_path: Path) -> Iterator[None]:
    """The default database pointed somewhere nothing answers: a closed port on PostgreSQL, a
    file in a missing directory on SQLite. The real driver fails to connect; nothing is mocked."""
    wrapper = connections["default"]
    saved = dict(wrapper.settings_dict)
    wrapper.close()
    if wrapper.vendor == "postgresql":
        with socket.socket() as probe:  # a port that was free a moment ago: connecting is refused
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        wrapper.settings_dict.update(HOST="127.0.0.1", PORT=str(port))
    else:
        wrapper.settings_dict["NAME"] = str(tmp_path / "missing" / "db.sqlite3")
    try:
        yield
    finally:
        wrapper.close()
        wrapper.settings_dict.clear()
        wrapper.settings_dict.update(saved)


# --- CI's second pass ------------------------------------------------------------------------

# Fixtures through which a test reaches the database (directly or through another fixture).
DATABASE_FIXTURES = frozenset(
    {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback", "live_server"}
)


def reaches_the_database(item: pytest.Item) -> bool:
    if item.get_closest_marker("django_db") or item.get_closest_marker("postgres"):
        return True
    if any("PostgreSQL" in str(mark.kwargs.get("reason", "")) for mark in item.iter_markers("skipif")):
        return True
    return bool(DATABASE_FIXTURES & set(getattr(item, "fixturenames", ())))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """TESTS_DATABASE_ONLY=1 keeps only the tests that reach the database. CI sets it for its
    PostgreSQL pass: the rest (templates, copy, briefs, providers against local fakes) does not
    change with the database and has just run in the SQLite pass; running it twice would put
    CI past its 30 minutes. `make test` and `make test-postgres` run everything."""
    if os.environ.get("TESTS_DATABASE_ONLY") != "1":
        return
    kept = [item for item in items if reaches_the_database(item)]
    deselected = [item for item in items if not reaches_the_database(item)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept
