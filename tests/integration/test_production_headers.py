"""Production settings send the security headers (DJANGO_PRODUCTION=1), checked in a fresh
process because settings are read once at start-up."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

PROBE = r"""
import json, django
django.setup()
from django.test import Client
client = Client(HTTP_X_FORWARDED_PROTO="https")
out = {}
for path in ("/admin/login/", "/api/health", "/status/unknown-token/"):
    r = client.get(path, secure=True)
    out[path] = {"status": r.status_code, "headers": dict(r.headers), "cookies": {
        k: {"secure": bool(m["secure"]), "httponly": bool(m["httponly"]), "samesite": m["samesite"]}
        for k, m in r.cookies.items()}}
r = Client().get("/admin/login/")
out["plain_http"] = {"status": r.status_code, "location": r.headers.get("Location", "")}
r = Client().post("/api/payments/webhook", data=b"{}", content_type="application/json")
out["plain_http_api"] = {"status": r.status_code}
print(json.dumps(out))
"""


def production_env(tmp_path) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_PRODUCTION": "1",
        "SECRET_KEY": "x" * 64,
        "ALLOWED_HOSTS": "testserver",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        "STRIPE_WEBHOOK_SECRET": "whsec_test",
        "PYTHONPATH": str(ROOT),
        "STATIC_ROOT": str(tmp_path / "static"),
    }


@pytest.fixture(scope="module")
def seen(tmp_path_factory) -> dict:
    """One production process's answers; its static files collected as the Vercel build does."""
    tmp_path = tmp_path_factory.mktemp("production")
    env = production_env(tmp_path)
    steps = (["manage.py", "migrate", "-v0"], ["manage.py", "collectstatic", "--noinput", "-v0"], ["-c", PROBE])
    for args in steps:
        result = subprocess.run(
            [sys.executable, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
        )
        assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_responses_carry_the_security_headers(seen) -> None:
    for path in ("/admin/login/", "/api/health", "/status/unknown-token/"):
        headers = {k.lower(): v for k, v in seen[path]["headers"].items()}
        assert headers["strict-transport-security"] == "max-age=31536000; includeSubDomains; preload", path
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["x-frame-options"] == "DENY", path
        assert headers["referrer-policy"] == "same-origin", path
        assert headers["cross-origin-opener-policy"] == "same-origin", path
    csrf = seen["/admin/login/"]["cookies"]["csrftoken"]
    assert csrf["secure"] and csrf["samesite"] == "Lax"


def test_plain_http_redirects_to_https_except_on_the_api(seen) -> None:
    """Crons and webhooks never get a 3xx (a cron run would end silently); pages do."""
    assert seen["plain_http"]["status"] == 301
    assert seen["plain_http"]["location"].startswith("https://")
    assert seen["plain_http_api"]["status"] != 301
