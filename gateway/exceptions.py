"""One error shape for the whole HTTP surface: `{"error": {"code", "message", "detail"}}`.

`api_exception_handler` is DRF's EXCEPTION_HANDLER: it turns DRF's own
exceptions, the gateway's `ApiError`s and the engine's errors into that shape.
`ApiErrorMiddleware` (gateway/middleware.py) gives Django's own 404/405/413/500
on /api/ paths the same shape, so a client never parses HTML.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework import status
from rest_framework.response import Response

from orchestration.exceptions import IllegalTransition, InvalidWorkflow, NotFound, OrchestrationError

logger = logging.getLogger("gateway")


class ApiError(drf.APIException):
    """Base of the gateway's errors (do not raise directly): a status, a code, a message."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "bad_request"
    default_detail = "Bad request."

    def __init__(self, message: str | None = None, *, detail: Any = None, code: str | None = None) -> None:
        super().__init__(message or self.default_detail, code or self.default_code)
        self.message = message or str(self.default_detail)
        self.extra = detail


class BadSignature(ApiError):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "bad_signature"
    default_detail = "The request's signature is missing, malformed, stale or does not match."


class Unauthorized(ApiError):
    status_code = status.HTTP_401_UNAUTHORIZED
    default_code = "unauthorized"
    default_detail = "Credentials are missing or wrong."


class MalformedBody(ApiError):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "malformed_body"
    default_detail = "The body is not the JSON object this route expects."


class UnknownObject(ApiError):
    status_code = status.HTTP_404_NOT_FOUND
    default_code = "not_found"
    default_detail = "No such object."


class Conflict(ApiError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The object is not in a state that allows this."


class BodyTooLarge(ApiError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "body_too_large"
    default_detail = "The body is larger than this route accepts."


class NotConfigured(ApiError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "not_configured"
    default_detail = "This route is not configured on this deployment."


def error_body(code: str, message: str, detail: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "detail": detail}}


def error_response(status_code: int, code: str, message: str, detail: Any = None) -> JsonResponse:
    """The shape outside DRF views (middleware, plain Django views)."""
    return JsonResponse(error_body(code, message, detail), status=status_code)


# The engine's errors, as HTTP: a wrong state is a conflict, a bad argument a 400.
_ENGINE_STATUS = {
    IllegalTransition: status.HTTP_409_CONFLICT,
    NotFound: status.HTTP_404_NOT_FOUND,
    InvalidWorkflow: status.HTTP_400_BAD_REQUEST,
}

# DRF's messages for these are fine; their codes get stable names.
_DRF_CODES = {
    drf.ParseError: "malformed_body",
    drf.UnsupportedMediaType: "unsupported_media_type",
    drf.NotAuthenticated: "not_authenticated",
    drf.AuthenticationFailed: "authentication_failed",
    drf.PermissionDenied: "permission_denied",
    drf.NotFound: "not_found",
    drf.MethodNotAllowed: "method_not_allowed",
    drf.NotAcceptable: "not_acceptable",
    drf.Throttled: "throttled",
    drf.ValidationError: "invalid",
}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER. Anything it does not know is re-raised (and answered 500 JSON
    by the middleware, with the traceback logged): a bug must stay visible."""
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf.PermissionDenied()
    elif isinstance(exc, OrchestrationError) and type(exc) in _ENGINE_STATUS:
        translated = ApiError(str(exc), code=exc.code)
        translated.status_code = _ENGINE_STATUS[type(exc)]
        exc = translated
    if not isinstance(exc, drf.APIException):
        return None
    return _response_for(exc, context)


def _response_for(exc: drf.APIException, context: dict[str, Any]) -> Response:
    detail: Any = None
    if isinstance(exc, ApiError):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
        message, detail = exc.message, exc.extra
    elif isinstance(exc, drf.ValidationError):
        code, detail = "invalid", exc.detail
        fields = sorted(exc.detail) if isinstance(exc.detail, dict) else []
        message = f"Invalid fields: {', '.join(fields)}." if fields else "The input is invalid."
    else:
        code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
        message = str(exc.detail)
        if isinstance(exc, drf.Throttled) and exc.wait is not None:
            detail = {"retry_after_seconds": int(exc.wait)}
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    request = context.get("request")
    logger.info(
        "api error",
        extra={"action": "api_error", "status": exc.status_code, "code": code, "path": getattr(request, "path", "")},
    )
    return Response(error_body(code, message, detail), status=exc.status_code, headers=headers)
