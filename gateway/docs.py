"""How the API describes itself (OpenAPI, drf-spectacular): the schema class every view uses
(REST_FRAMEWORK's DEFAULT_SCHEMA_CLASS) and the token scheme.

- An operation's description is what its `extend_schema(description=...)` says, never a code
  docstring: a class docstring is written for developers (and was leaking from a mixin into
  every operation). An operation without a description has an empty one, which the schema test
  refuses.
- Every operation documents the errors it can answer, in the one error shape
  (`{"error": {"code", "message", "detail"}}`), with a realistic example each: 400 when it
  takes a body, parameters or a signature; 401 and 403 when it needs credentials; 404 when
  its path names an object; 413 when it takes a body; 429 when it is throttled. Found from the
  view itself (its permissions, throttles, method and path), so a new view gets them too;
  what an `extend_schema` declares for a status wins.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiExample, OpenApiResponse

from gateway.permissions import IsCron, Public, SignedByEngine
from gateway.serializers import ErrorSerializer

KEY_HELP = (
    "`Authorization: Token <key>`. A key is made for a user with `python manage.py drf_create_token "
    "<username>` (or in the back office: Auth Token > Tokens > Add) and shown once. A staff user may call "
    "every route; another user needs the model permissions the route names (view to read runs, change to "
    "act on them), granted in the back office like any other."
)
SESSION_HELP = (
    "A staff member signed in to the back office (/admin/) may call the API from the same browser: "
    "the session cookie, plus the `X-CSRFToken` header on POST."
)


def _error(code: str, message: str, detail: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "detail": detail}}


# (description, example name, example body) per status.
ERRORS: dict[int, tuple[str, str, dict[str, Any]]] = {
    400: (
        "Refused input: the body is not the JSON object this route expects, a field is invalid (each "
        "bad field named in `detail`), or a signature is missing, stale or wrong. Nothing was stored.",
        "Invalid fields",
        _error(
            "invalid",
            "Invalid fields: brand_color, contact_email.",
            {"contact_email": ["Enter a valid email address."], "brand_color": ["Use #rrggbb, e.g. #2563eb."]},
        ),
    ),
    401: (
        "No credentials, or credentials that are not valid (see the security schemes).",
        "No credentials",
        _error("not_authenticated", "Authentication credentials were not provided."),
    ),
    403: (
        "Valid credentials without the right to this route (not staff, or without the model permission).",
        "Not allowed",
        _error("permission_denied", "You do not have permission to perform this action."),
    ),
    404: (
        "No object with the id in the path.",
        "Unknown id",
        _error("not_found", "No project 8b0f7d2c-7d1e-4a8e-9d0c-0f5a3c1b2e4d."),
    ),
    409: (
        "The object is not in a state that allows this act (a run that is not running cannot be cancelled, "
        "nor a running one replayed); nothing changed.",
        "Wrong state",
        _error(
            "illegal_transition",
            "Run 3f1c9a4e-2b7d-4c1e-9a6f-5d8e7b2a1c0f is succeeded; only a failed or cancelled run can be replayed.",
        ),
    ),
    413: (
        "The body is larger than the route accepts (1 MiB); nothing was parsed.",
        "Body too large",
        _error("body_too_large", "The body is larger than 1048576 bytes.", {"limit": 1048576}),
    ),
    429: (
        "Too many requests from this client: wait `Retry-After` seconds (also in `detail`).",
        "Throttled",
        _error("throttled", "Request was throttled. Expected available in 12 seconds.", {"retry_after_seconds": 12}),
    ),
    503: (
        "Not available now: the database does not answer, or this route is not configured here (its "
        "secret is not set). Try again later; nothing was stored.",
        "Not available",
        _error("not_configured", "STRIPE_WEBHOOK_SECRET is not set on this deployment."),
    ),
}
BAD_SIGNATURE = _error("bad_signature", "The request's signature is missing, malformed, stale or does not match.")


def error_response(status: int, *, example: dict[str, Any] | None = None) -> OpenApiResponse:
    description, name, body = ERRORS[status]
    return OpenApiResponse(
        response=ErrorSerializer,
        description=description,
        examples=[OpenApiExample(name, value=example or body, status_codes=[str(status)], response_only=True)],
    )


class GatewayAutoSchema(AutoSchema):
    def get_description(self) -> str:  # type: ignore[override]
        # Only what extend_schema says (it overrides this method when it has a description).
        return ""

    def _error_statuses(self) -> list[int]:
        view = self.view
        permissions = list(getattr(view, "permission_classes", []))
        signed = any(issubclass(p, SignedByEngine) for p in permissions) or any(
            p.get("in") == "header" and "signature" in p.get("name", "").lower() for p in self._header_params()
        )
        open_route = all(issubclass(p, (Public, SignedByEngine)) for p in permissions)
        takes_body = self.method in ("POST", "PUT", "PATCH")
        statuses = []
        if takes_body or signed or self._has_query_params():
            statuses.append(400)
        if not open_route:
            statuses.append(401)
            if not all(issubclass(p, IsCron) for p in permissions):
                statuses.append(403)
        if "{" in self.path:
            statuses.append(404)
        if takes_body:
            statuses.append(413)
        if getattr(view, "throttle_classes", None):
            statuses.append(429)
        return statuses

    def _header_params(self) -> list[dict[str, Any]]:
        return [p for p in self._get_parameters() if isinstance(p, dict) and p.get("in") == "header"]

    def _has_query_params(self) -> bool:
        return any(isinstance(p, dict) and p.get("in") == "query" for p in self._get_parameters())

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:  # type: ignore[override]
        responses = super()._get_response_bodies(direction)  # type: ignore[arg-type]
        if direction != "response":
            return responses
        signed = any(issubclass(p, SignedByEngine) for p in getattr(self.view, "permission_classes", []))
        wanted = {str(s) for s in self._error_statuses()}
        # Errors a view declared bare (the error body alone) get their words and example too.
        wanted |= {code for code, r in responses.items() if int(code) in ERRORS and not _documented(r)}
        for code in sorted(wanted):
            if code in responses and _documented(responses[code]):
                continue
            example = BAD_SIGNATURE if code == "400" and signed else None
            responses[code] = self._get_response_for_code(
                error_response(int(code), example=example), code, direction=direction
            )
        return dict(sorted(responses.items()))


def _documented(response: dict[str, Any]) -> bool:
    content = response.get("content", {}).get("application/json", {})
    return bool(response.get("description")) and bool(content.get("examples"))


class DocumentedTokenScheme(OpenApiAuthenticationExtension):
    """DRF's token scheme with how to get a key (drf-spectacular's own has no description)."""

    target_class = "rest_framework.authentication.TokenAuthentication"
    name = "tokenAuth"
    match_subclasses = True
    priority = 1  # over drf-spectacular's built-in (-1)

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "header", "name": "Authorization", "description": KEY_HELP}


class DocumentedSessionScheme(OpenApiAuthenticationExtension):
    target_class = "rest_framework.authentication.SessionAuthentication"
    name = "cookieAuth"
    match_subclasses = True
    priority = 1

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "cookie", "name": "sessionid", "description": SESSION_HELP}
