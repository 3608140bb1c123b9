"""The health check: is this process up, and can it reach its database?

One function, `health_check()`, answers both `GET /api/health` paths: config.wsgi's fast
path (before Django's middleware) and gateway.views.health.HealthView (the same URL when a
request does not qualify for the fast path).

The database probe is a `SELECT 1` on the default connection. A successful probe answers
this process's health checks for `HEALTH_DATABASE_CHECK_SECONDS` (default 1 s; 0: every
request probes), and the body says how old it is (`database_age_ms`). Why: the route is
public and unauthenticated, so without a bound every request to it is a database round trip
anyone can send; with it, a flood of checks costs the database at most one query per second
per process, while an uptime checker (one call every 30-60 s) still gets a fresh probe
every time. A failed probe is never shared: it is answered 503 at once and forgets the last
success, so the next check probes again and an outage is seen within the window.
"""

from __future__ import annotations

import os
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection

from gateway.exceptions import error_body


def _version() -> str:
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    try:
        with pyproject.open("rb") as fh:
            return str(tomllib.load(fh)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


VERSION = _version()
# Set by Vercel on every deployment; empty elsewhere.
COMMIT = os.environ.get("VERCEL_GIT_COMMIT_SHA", "")[:12]


@dataclass(frozen=True)
class _Probe:
    database_ms: float
    at: float  # time.monotonic() when it finished


# The last successful probe of this process. Threads (gthread, Vercel's Fluid compute) share
# it: replacing a reference is atomic, and two threads that both find it stale both probe.
_last_success: _Probe | None = None


def probe_due() -> bool:
    """Whether the next health check queries the database (no success within the window)."""
    return not _still_fresh(_last_success, time.monotonic())


def _still_fresh(probe: _Probe | None, now: float) -> bool:
    return probe is not None and now - probe.at < settings.HEALTH_DATABASE_CHECK_SECONDS


def health_check() -> tuple[int, dict[str, Any]]:
    """(status, body) of the health check."""
    global _last_success
    now = time.monotonic()
    shared = _last_success  # read once: another thread may replace it meanwhile
    if not _still_fresh(shared, now):
        started = time.perf_counter()
        try:
            _ping_database()
        except DatabaseError as exc:
            _last_success = None
            body = error_body("database_unavailable", "The database did not answer.", {"error": type(exc).__name__})
            return 503, body
        shared = _Probe(database_ms=round((time.perf_counter() - started) * 1000, 2), at=time.monotonic())
        _last_success = shared
        now = shared.at
    return 200, {
        "status": "ok",
        "database": "ok",
        "database_ms": shared.database_ms,
        "database_age_ms": round((now - shared.at) * 1000, 1),
        "version": VERSION,
        "commit": COMMIT,
    }


def forget_last_probe() -> None:
    """The next health check probes the database (tests; a settings change)."""
    global _last_success
    _last_success = None


def _ping_database() -> None:
    """`SELECT 1` on the default connection. A kept connection the server dropped (a restart, an
    idle timeout) is replaced once, as Django's CONN_HEALTH_CHECKS would: the SELECT is the
    health check, so it is one round trip instead of Django's check plus the SELECT."""
    kept = connection.connection is not None
    try:
        _select_one()
    except DatabaseError:
        connection.close()
        if not kept:
            raise
        _select_one()


def _select_one() -> None:
    connection.ensure_connection()
    with connection.wrap_database_errors:
        connection.connection.execute("SELECT 1").fetchone()
