"""JSON errors for everything under /api/, and the body-size limit for every body.

Django enforces DATA_UPLOAD_MAX_MEMORY_SIZE only on form bodies; JSON and
webhook bodies are read raw, so the limit is checked here, from Content-Length,
before any view reads a byte (Django reads no more than Content-Length says).
Django's own error pages (404 for an unknown path, 405, CSRF's 403, a 500) are
HTML; under /api/ they become the one error shape of gateway/exceptions.py.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse

from gateway.exceptions import error_response
from metrics.errors import location_of, record_error

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
            try:
                record_error(
                    error_type=type(exception).__name__,
                    location=location_of(exception),
                    message=f"{request.method} {request.path}: {exception}",
                    traceback="".join(traceback.format_exception(exception)),
                )
            except DatabaseError:  # the database may be why the request failed: never mask the error
                logger.exception("could not record the error", extra={"action": "record_error"})
        return error_response(500, *_CODES[500])


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0
