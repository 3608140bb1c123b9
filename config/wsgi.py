"""WSGI entry point: gunicorn, runserver and Vercel's Python runtime load `application`.

`GET /api/health` is answered here, before Django's middleware and URL resolution: an uptime
check wants "is this process up and can it reach its database?", fast, under load. It is the
same check as gateway.views.health.HealthView (gateway.health.health_check) with the same
JSON body, status codes and headers that matter (Cache-Control: no-store, X-Request-ID); a
request that is not exactly that (another method, a Host outside ALLOWED_HOSTS, a query
string) goes through Django as usual.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

django_application = get_wsgi_application()

# After Django is set up: these read settings and models.
from django.conf import settings  # noqa: E402
from django.core.signals import request_finished, request_started  # noqa: E402
from django.http.request import split_domain_port, validate_host  # noqa: E402

from gateway.health import health_check, probe_due  # noqa: E402
from orchestration.checks import refuse_bad_settings  # noqa: E402

# gunicorn and Vercel's runtime run no system checks: a bad engine setting (orchestration.E001...)
# stops this process here, before its first request, as `manage.py` commands refuse to start.
refuse_bad_settings()

HEALTH_PATH = "/api/health"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")  # as metrics.middleware keeps a caller's id
# The headers Django's middleware would add to this response (SecurityMiddleware, XFrameOptions).
_HEADERS = [
    ("Content-Type", "application/json"),
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", settings.X_FRAME_OPTIONS),
    ("Referrer-Policy", settings.SECURE_REFERRER_POLICY or "same-origin"),
    ("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY or "same-origin"),
]

StartResponse = Callable[..., Any]


class HealthCheckHandler:
    """The sender of the request signals for health checks answered here."""


class _Response(list[bytes]):
    """The body; the server's close() ends the request, as Django's responses do (WSGI)."""

    def __init__(self, body: list[bytes], *, used_database: bool) -> None:
        super().__init__(body)
        self.used_database = used_database

    def close(self) -> None:
        if self.used_database:
            request_finished.send(sender=HealthCheckHandler)


def _is_health_request(environ: dict[str, Any]) -> bool:
    if environ.get("PATH_INFO") != HEALTH_PATH or environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
        return False
    if environ.get("QUERY_STRING"):
        return False
    if settings.SECURE_SSL_REDIRECT and not _is_secure(environ):
        exempt = any(re.search(pattern, HEALTH_PATH.lstrip("/")) for pattern in settings.SECURE_REDIRECT_EXEMPT)
        if not exempt:
            return False  # Django redirects it to https
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
    domain, _port = split_domain_port(host)
    allowed = settings.ALLOWED_HOSTS or (["localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
    return bool(domain) and validate_host(domain, allowed)


def _is_secure(environ: dict[str, Any]) -> bool:
    """HttpRequest.is_secure() on the raw environ (SECURE_PROXY_SSL_HEADER, then the scheme)."""
    if settings.SECURE_PROXY_SSL_HEADER:
        header, secure_value = settings.SECURE_PROXY_SSL_HEADER
        value = environ.get(header)
        if value is not None:
            return value.split(",", 1)[0].strip() == secure_value
    return environ.get("wsgi.url_scheme") == "https"


def _hsts() -> str:
    value = f"max-age={settings.SECURE_HSTS_SECONDS}"
    if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
        value += "; includeSubDomains"
    if settings.SECURE_HSTS_PRELOAD:
        value += "; preload"
    return value


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    if not _is_health_request(environ):
        return django_application(environ, start_response)
    # Django's request signals, as its handler sends them, around a check that queries the
    # database: connections past CONN_MAX_AGE (or broken) are closed when a request starts and
    # when the server closes its response. A check answered by the last probe touches no
    # connection, and skips them (they were most of its time).
    probing = probe_due()
    if probing:
        request_started.send(sender=HealthCheckHandler, environ=environ)
    status, body = health_check()
    payload = json.dumps(body, separators=(",", ":")).encode()
    incoming = environ.get("HTTP_X_REQUEST_ID", "")
    request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    headers = [*_HEADERS, ("Content-Length", str(len(payload))), ("X-Request-ID", request_id)]
    if settings.SECURE_HSTS_SECONDS and _is_secure(environ):
        headers.append(("Strict-Transport-Security", _hsts()))
    start_response("200 OK" if status == 200 else "503 Service Unavailable", headers)
    return _Response([] if environ["REQUEST_METHOD"] == "HEAD" else [payload], used_database=probing)


app = application
