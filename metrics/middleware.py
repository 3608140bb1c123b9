"""Request middleware: a request id on every request and log line, and unhandled
exceptions recorded as grouped errors (the same records as failed attempts)."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable

from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse

from core import logging as log_ids
from metrics.errors import record_exception

logger = logging.getLogger("metrics")

HEADER = "X-Request-ID"
# A caller's id is kept only if it is short and plain, so it cannot forge log lines.
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Exceptions Django turns into 4xx responses on purpose: not bugs, not recorded.
_EXPECTED = (Http404, PermissionDenied, SuspiciousOperation, BadRequest)


class RequestIdMiddleware:
    """Takes X-Request-ID from the caller (or makes one), binds it for logging, returns it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(HEADER, "")
        request_id = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        tokens = log_ids.bind(request_id=request_id)
        try:
            response = self.get_response(request)
        finally:
            log_ids.unbind(tokens)
        response[HEADER] = request_id
        return response


class ErrorRecordingMiddleware:
    """Records every unhandled exception of a view as an error group; Django then answers 500.

    Put it last in MIDDLEWARE so it sees the view's exception before any other handler.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        if isinstance(exception, _EXPECTED):
            return None
        record_exception(exception, message=f"{request.method} {request.path}: {exception}", context="request")
        return None
