"""Requests no view should see, and JSON errors for everything under /api/.

`ControlCharacterMiddleware` refuses, before anything reads them, requests whose
path, query string or credential headers carry control characters: a NUL in a
value that reaches a database lookup (a status token, a DRF token key, a
session id) is a 500 on PostgreSQL, which cannot store or compare it.

`ApiErrorMiddleware` enforces the body-size limit and the one error shape:
Django enforces DATA_UPLOAD_MAX_MEMORY_SIZE only on form bodies; JSON and
webhook bodies are read raw, so the limit is checked here, from Content-Length,
before any view reads a byte (Django reads no more than Content-Length says).
Django's own error pages (404 for an unknown path, 405, CSRF's 403, a 500) are
HTML; under /api/ they become the one error shape of gateway/exceptions.py.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

from gateway.exceptions import error_response
from metrics.errors import record_exception

logger = logging.getLogger("gateway")

API_PREFIX = "/api/"
ERROR_RECORDER = "metrics.middleware.ErrorRecordingMiddleware"

_CODES = {
    400: ("bad_request", "The request is malformed."),
    403: ("forbidden", "This request is not allowed."),
    404: ("not_found", "No such route or object."),
    405: ("method_not_allowed", "This route does not take that method."),
    413: ("body_too_large", "The body is larger than this route accepts."),
    500: ("server_error", "The server failed; the error was recorded."),
}


# C0 controls and DEL: never part of one of our paths, a credential or a signature.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# In a query string a tab or a line break may be someone's search text; the rest never is.
_QUERY_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Headers whose values are looked up in the database or compared as secrets.
CREDENTIAL_HEADERS = (
    "HTTP_AUTHORIZATION",
    "HTTP_COOKIE",
    "HTTP_STRIPE_SIGNATURE",
    "HTTP_WEBHOOK_ID",
    "HTTP_WEBHOOK_TIMESTAMP",
    "HTTP_WEBHOOK_SIGNATURE",
    "HTTP_X_CSRFTOKEN",
)


class ControlCharacterMiddleware:
    """400 for a control character in the path, the query string or a credential header
    (and for a NUL in any header). Put it first after the request id: before WhiteNoise,
    sessions, CSRF and authentication, which all read these values."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        where = _control_character_in(request)
        if where is None:
            return self.get_response(request)
        # Never the value itself: it may be a token, a session id or a signature.
        logger.warning(
            "request refused: control character",
            extra={
                "action": "request_refused",
                "reason": "control_character",
                "where": where,
                "method": request.method,
                "route": _route_of(request.path),
            },
        )
        message = f"The request's {where} contains a control character."
        if request.path.startswith(API_PREFIX):
            return error_response(400, "control_character", message, {"where": where})
        return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")


def _control_character_in(request: HttpRequest) -> str | None:
    """Where the first refused character is ("path", "query string", "<Header> header"), or None."""
    if _CONTROL.search(request.path):
        return "path"
    query = request.META.get("QUERY_STRING", "")
    if query and _QUERY_CONTROL.search(unquote_to_bytes(query)):
        return "query string"
    for key, value in request.META.items():
        if not key.startswith("HTTP_") or not isinstance(value, str):
            continue
        if "\x00" in value or (key in CREDENTIAL_HEADERS and _CONTROL.search(value)):
            return key.removeprefix("HTTP_").replace("_", "-").title() + " header"
    return None


def _route_of(path: str) -> str:
    """The first segment of a path, made printable: enough to tell which route was hit,
    without the rest (a status token is the customer's key)."""
    first = path.lstrip("/").split("/", 1)[0]
    return "/" + _CONTROL.sub("?", first)[:40]


class ApiErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and _content_length(request) > limit:
            logger.warning("body too large", extra={"action": "body_too_large", "path": request.path, "limit": limit})
            return error_response(413, "body_too_large", f"The body is larger than {limit} bytes.", {"limit": limit})
        response = self.get_response(request)
        if response.status_code >= 400 and not response.get("Content-Type", "").startswith("application/json"):
            code, message = _CODES.get(response.status_code, ("error", response.reason_phrase))
            logger.info(
                "api error", extra={"action": "api_error", "status": response.status_code, "path": request.path}
            )
            json_response = error_response(response.status_code, code, message)
            for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                if header in response:
                    json_response[header] = response[header]
            return json_response
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """An unhandled exception under /api/: recorded (grouped by fingerprint) and answered
        500 JSON. The traceback goes to the log and the error record, never to the client."""
        if not request.path.startswith(API_PREFIX):
            return None
        logger.exception("unhandled error", extra={"action": "api_unhandled", "path": request.path})
        if ERROR_RECORDER not in settings.MIDDLEWARE:  # it records first when installed: count once
            record_exception(exception, message=f"{request.method} {request.path}: {exception}", context="request")
        return error_response(500, *_CODES[500])


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0
