"""Behind a transaction-mode pooler (Neon's `-pooler` endpoint, PgBouncer, Supabase, RDS Proxy)
each transaction may run on another server connection: nothing of a session may be relied on.
CI also runs the engine, worker, HTTP-dispatch and end-to-end tests and a 100-order load test
through a real PgBouncer in transaction mode (.ci/pgbouncer.sh)."""

from __future__ import annotations

import re
import runpy
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings

from orchestration import services
from orchestration.budget import Budget
from orchestration.execution import tick
from tests.conftest import postgres_only

ROOT = Path(__file__).resolve().parents[2]
APP_DIRS = ("core", "orchestration", "orders", "agents", "gateway", "metrics", "config", "api", "loadtest")

DIRECT = "postgres://app@db.example.com:5432/shop"
NEON_POOLED = "postgres://app@ep-cool-name-123-pooler.eu-central-1.aws.neon.tech/shop?sslmode=require"
NEON_DIRECT = "postgres://app@ep-cool-name-123.eu-central-1.aws.neon.tech/shop?sslmode=require"
BOUNCER = "postgres://app@127.0.0.1:6432/shop"


def _settings_with(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    """config/settings.py executed afresh with this environment (as a new process reads it)."""
    for name in ("DATABASE_URL", "DIRECT_DATABASE_URL", "ENGINE_PREPARE_STATEMENTS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "config" / "settings.py"))


@pytest.mark.parametrize(
    ("env", "prepared"),
    [
        ({"DATABASE_URL": DIRECT}, True),
        ({"DATABASE_URL": DIRECT, "DIRECT_DATABASE_URL": DIRECT}, True),
        ({"DATABASE_URL": NEON_POOLED}, False),
        ({"DATABASE_URL": NEON_POOLED, "DIRECT_DATABASE_URL": NEON_DIRECT}, False),
        ({"DATABASE_URL": BOUNCER, "DIRECT_DATABASE_URL": DIRECT}, False),
        ({"DATABASE_URL": NEON_POOLED, "ENGINE_PREPARE_STATEMENTS": "1"}, True),
        ({"DATABASE_URL": DIRECT, "ENGINE_PREPARE_STATEMENTS": "0"}, False),
    ],
    ids=["direct", "direct-twice", "neon-pooler-host", "neon-both-urls", "bouncer", "forced-on", "forced-off"],
)
def test_prepared_statements_are_off_for_a_pooled_url_unless_asked(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], prepared: bool
) -> None:
    read = _settings_with(monkeypatch, **env)

    assert read["ORCHESTRATION"]["PREPARE"] is prepared
    options = read["DATABASES"]["default"].get("OPTIONS", {})
    if not prepared:  # Django's connection too: nothing may switch psycopg's preparation on
        assert options["prepare_threshold"] is None
        assert "server_side_binding" not in options


def _prepared_on_this_connection() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_prepared_statements")
        return cur.fetchone()[0]


@postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("prepare", [False, True], ids=["pooled", "direct"])
def test_the_queue_prepares_statements_only_when_allowed(prepare: bool) -> None:
    from django.conf import settings

    if prepare and settings.DATABASE_URL != settings.DIRECT_DATABASE_URL:
        pytest.skip("behind a pooler the statements' server connection is not the one that counts them")
    connection.close()  # a fresh server session: nothing prepared on it yet
    with override_settings(ORCHESTRATION={**_orchestration(), "PREPARE": prepare}):
        services.enqueue("engine.noop", {})
        assert tick(budget=Budget.seconds(30), worker="pooler-test", recover=False).claimed == 1
        prepared = _prepared_on_this_connection()

    assert (prepared > 0) is prepare, f"{prepared} statements prepared with PREPARE={prepare}"


def _orchestration() -> dict[str, Any]:
    from django.conf import settings

    return dict(settings.ORCHESTRATION)


# Session state: whatever a statement leaves on its server connection after its transaction.
SESSION_STATE = {
    "a session-level SET (use SET LOCAL or set_config(..., true))": re.compile(
        r"""["'(]\s*SET\s+(?!LOCAL\b)(SESSION\s+)?[a-z_]+(\.[a-z_]+)?\s*(=|TO\b)""", re.IGNORECASE
    ),
    "set_config(..., false): a session-level setting": re.compile(r"set_config\([^)]*,\s*false\s*\)", re.IGNORECASE),
    "a session-level advisory lock (use pg_advisory_xact_lock)": re.compile(
        r"pg_(try_)?advisory_lock(_shared)?\s*\(", re.IGNORECASE
    ),
    "a cursor WITH HOLD (lives past its transaction)": re.compile(r"\bWITH\s+HOLD\b", re.IGNORECASE),
    "a temporary table": re.compile(r"\bCREATE\s+(GLOBAL\s+|LOCAL\s+)?TEMP(ORARY)?\s+TABLE\b", re.IGNORECASE),
    "a named PREPARE statement": re.compile(r"""["']\s*PREPARE\s+\w+""", re.IGNORECASE),
    "a forced protocol-level preparation (prepare=True)": re.compile(r"\bprepare\s*=\s*True\b"),
    "server-side binding on Django's connection": re.compile(r"server_side_binding[\"']?\s*[:=]\s*True"),
}
# LISTEN needs a session of its own: only the listener, and only over DIRECT_DATABASE_URL.
LISTEN = re.compile(r"""execute\(\s*f?["']\s*LISTEN\s""")


def _code(path: Path) -> str:
    """A file's text without its comments (which may name what they warn against)."""
    return "\n".join(line.split("#", 1)[0] if "#" in line else line for line in path.read_text().splitlines())


def _source_files() -> list[Path]:
    files = [p for d in APP_DIRS for p in (ROOT / d).rglob("*.py") if "migrations" not in p.parts]
    assert len(files) > 50
    return files


def test_no_code_keeps_session_state_on_a_pooled_connection() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{text[: m.start()].count(chr(10)) + 1}: {why}"
        for path in _source_files()
        for text in [_code(path)]
        for why, pattern in SESSION_STATE.items()
        for m in pattern.finditer(text)
    ]

    assert not found, "session state would break behind a transaction-mode pooler:\n" + "\n".join(found)


def test_only_the_listener_listens_and_never_through_the_pooled_url() -> None:
    listening = sorted(str(p.relative_to(ROOT)) for p in _source_files() if LISTEN.search(_code(p)))
    assert listening == ["orchestration/listener.py"]
    source = (ROOT / "orchestration" / "listener.py").read_text()
    # A shared listener only when the two URLs are one (no pooler); else its own direct connection.
    assert "if settings.DIRECT_DATABASE_URL == settings.DATABASE_URL:" in source
    assert "DedicatedListener.connect(settings.DIRECT_DATABASE_URL)" in source


@pytest.mark.parametrize(
    ("snippet", "kind"),
    [
        ('cur.execute("SET statement_timeout = 5")', "session-level SET"),
        ("SELECT pg_advisory_lock(42)", "advisory lock"),
        ("SELECT set_config('search_path', 'x', false)", "set_config"),
        ("cur.execute(sql, params, prepare=True)", "prepare=True"),
    ],
)
def test_the_session_state_guard_sees_what_it_is_meant_to(snippet: str, kind: str) -> None:
    assert any(p.search(snippet) for p in SESSION_STATE.values()), kind
    assert not any(p.search("UPDATE t SET status = 'x'") for p in SESSION_STATE.values())
    assert not any(p.search("SET LOCAL lock_timeout = '1s'") for p in SESSION_STATE.values())
