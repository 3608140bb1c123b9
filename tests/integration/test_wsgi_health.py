"""GET /api/health answered by config.wsgi before Django's middleware: the same check (a real
`SELECT 1` every time), the same body and status codes as the view; anything else goes
through Django. Called through the WSGI callable itself, as gunicorn and Vercel call it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.signals import request_finished, request_started
from django.db import OperationalError, connections

import config.wsgi
import gateway.health

pytestmark = pytest.mark.django_db(transaction=True)


def call(method: str = "GET", path: str = "/api/health", query: str = "", **headers: str) -> tuple[int, dict, bytes]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        **{f"HTTP_{k.upper()}": v for k, v in headers.items()},
    }
    seen: list[tuple[str, list[tuple[str, str]]]] = []
    response = config.wsgi.application(environ, lambda status, hdrs, exc=None: seen.append((status, hdrs)))
    try:
        body = b"".join(response)
    finally:
        if hasattr(response, "close"):
            response.close()  # as a WSGI server does: the request ends here
    status, hdrs = seen[0]
    return int(status.split()[0]), dict(hdrs), body


def test_health_answers_200_with_the_database_checked_and_no_caching() -> None:
    status, headers, body = call()

    assert status == 200
    data = json.loads(body)
    assert (data["status"], data["database"], data["version"]) == ("ok", "ok", "0.1.0")
    assert 0 <= data["database_ms"] < 100
    assert headers["Cache-Control"] == "no-store"
    assert headers["Content-Type"] == "application/json"
    assert headers["Content-Length"] == str(len(body))
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert len(headers["X-Request-ID"]) == 32


def test_health_keeps_a_plain_request_id_and_replaces_a_forged_one() -> None:
    assert call(X_REQUEST_ID="abc-123")[1]["X-Request-ID"] == "abc-123"
    assert call(X_REQUEST_ID="bad id\nforged")[1]["X-Request-ID"] != "bad id\nforged"


def test_head_gets_the_headers_without_a_body() -> None:
    status, headers, body = call("HEAD")
    assert (status, body) == (200, b"")
    assert int(headers["Content-Length"]) > 0


def test_other_methods_and_hosts_go_through_django() -> None:
    status, _, body = call("DELETE")
    assert status == 405 and json.loads(body)["error"]["code"] == "method_not_allowed"
    assert call(HOST="evil.example")[0] == 400  # ALLOWED_HOSTS, as Django enforces it
    status, headers, _ = call(query="verbose=1")  # the view answers it, with Django's headers
    assert status == 200 and headers["X-Frame-Options"] == "DENY"


def test_health_answers_503_json_when_the_database_is_unreachable(unreachable_database: None) -> None:
    status, headers, body = call()

    assert status == 503
    assert json.loads(body)["error"] == {
        "code": "database_unavailable",
        "message": "The database did not answer.",
        "detail": {"error": "OperationalError"},
    }
    assert headers["Cache-Control"] == "no-store"


def test_a_kept_connection_the_server_dropped_is_replaced_once(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    settings.HEALTH_DATABASE_CHECK_SECONDS = 0  # every call probes
    wrapper = connections["default"]
    monkeypatch.setitem(wrapper.settings_dict, "CONN_MAX_AGE", 60)
    wrapper.close()
    assert call()[0] == 200
    assert wrapper.connection is not None, "kept between requests (CONN_MAX_AGE)"
    wrapper.connection.close()  # the connection went away; Django has not noticed yet

    assert call()[0] == 200


@pytest.fixture
def probes(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The times at which a health check really queried the database."""
    seen: list[float] = []
    real = gateway.health._select_one

    def counting() -> None:
        seen.append(time.monotonic())
        real()

    monkeypatch.setattr(gateway.health, "_select_one", counting)
    return seen


def test_one_successful_probe_answers_the_checks_of_its_window_and_says_how_old_it_is(
    probes: list[float], settings: Any
) -> None:
    settings.HEALTH_DATABASE_CHECK_SECONDS = 0.3
    first = json.loads(call()[2])
    time.sleep(0.05)
    later = [json.loads(call()[2]) for _ in range(20)]

    assert len(probes) == 1, "a flood of checks costs the database one query per window"
    assert first["database_age_ms"] == 0
    assert all(b["database_ms"] == first["database_ms"] and 50 <= b["database_age_ms"] < 300 for b in later)
    time.sleep(0.3)
    assert json.loads(call()[2])["database_age_ms"] == 0
    assert len(probes) == 2, "past the window the next check probes again"


def test_only_a_check_that_queries_the_database_runs_djangos_connection_upkeep(settings: Any) -> None:
    """request_started / request_finished close connections past CONN_MAX_AGE; a check that
    reuses the last probe touches no connection and skips them."""
    settings.HEALTH_DATABASE_CHECK_SECONDS = 60
    sent: list[str] = []

    def started(**_: Any) -> None:
        sent.append("started")

    def finished(**_: Any) -> None:
        sent.append("finished")

    request_started.connect(started)
    request_finished.connect(finished)
    try:
        call()
        assert sent == ["started", "finished"]
        call()
        call()
        assert sent == ["started", "finished"]
    finally:
        request_started.disconnect(started)
        request_finished.disconnect(finished)


def test_with_a_window_of_zero_every_check_probes(probes: list[float], settings: Any) -> None:
    settings.HEALTH_DATABASE_CHECK_SECONDS = 0
    assert {call()[0] for _ in range(5)} == {200}
    assert len(probes) == 5


def test_a_failed_probe_is_never_reused_and_forgets_the_last_success(
    probes: list[float], settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.HEALTH_DATABASE_CHECK_SECONDS = 0.2
    assert call()[0] == 200
    time.sleep(0.2)
    monkeypatch.setattr(gateway.health, "_ping_database", broken := _Broken())
    assert call()[0] == 503
    assert call()[0] == 503, "a failure is not shared: the next check probes again"
    assert broken.calls == 2
    monkeypatch.undo()
    assert call()[0] == 200, "the database is back: seen at the next check"


class _Broken:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        raise OperationalError("connection refused")


def test_a_negative_window_stops_start_up_naming_the_variable() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**os.environ, "HEALTH_DATABASE_CHECK_SECONDS": "-1", "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode != 0
    assert "HEALTH_DATABASE_CHECK_SECONDS is invalid" in result.stderr


PRODUCTION_PROBE = r"""
import io, json, sys
import config.wsgi
out = {}
for proto in ("https", "http"):
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/api/health", "QUERY_STRING": "", "SERVER_NAME": "testserver",
               "SERVER_PORT": "80", "HTTP_HOST": "testserver", "HTTP_X_FORWARDED_PROTO": proto,
               "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr}
    seen = []
    body = b"".join(config.wsgi.application(environ, lambda s, h, e=None: seen.append((s, h))))
    out[proto] = {"status": seen[0][0], "headers": dict(seen[0][1]), "body": json.loads(body)}
print(json.dumps(out))
"""


@pytest.mark.slow
def test_in_production_health_carries_the_security_headers_and_is_never_redirected(tmp_path: Path) -> None:
    import subprocess

    from tests.conftest import ROOT
    from tests.integration.test_production_headers import production_env

    env = production_env(tmp_path)
    for args in (["manage.py", "migrate", "-v0"], ["-c", PRODUCTION_PROBE]):
        result = subprocess.run(
            [sys.executable, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
        )
        assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    https = seen["https"]
    assert https["status"] == "200 OK" and https["body"]["database"] == "ok"
    assert https["headers"]["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert https["headers"]["X-Frame-Options"] == "DENY"
    assert https["headers"]["Referrer-Policy"] == "same-origin"
    assert seen["http"]["status"] == "200 OK", "api/ is exempt from the https redirect (uptime checks, crons)"
    assert "Strict-Transport-Security" not in seen["http"]["headers"]
