"""Who is calling, beyond DRF's token and session: Vercel's cron, by `Bearer $CRON_SECRET`.

Authentication identifies the caller (`request.auth is CRON`); the permission
classes in gateway/permissions.py decide. Being an authentication class also
puts the bearer scheme into the OpenAPI schema (the extension below), so
clients and the schema fuzzer know how the cron routes authenticate.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, TokenAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from core.throttling import FailedAuthenticationThrottle
from gateway.signatures import cron_authorized


class CronCaller:
    """`request.auth` of a call that carried the cron secret; no user stands behind it."""

    def __repr__(self) -> str:
        return "<cron>"


CRON = CronCaller()


class CronSecretAuthentication(BaseAuthentication):
    """`Authorization: Bearer $CRON_SECRET`, compared in constant time. Any other header is left
    to the next authenticator, so staff tokens and sessions still work where they are allowed."""

    def authenticate(self, request: Request) -> tuple[None, CronCaller] | None:
        authorization = request.headers.get("Authorization") or ""
        if not authorization.lower().startswith("bearer "):
            return None
        throttle = FailedAuthenticationThrottle()
        throttle.refuse_if_spent(request)  # a guesser past the rate is refused before the comparison
        if cron_authorized(authorization):
            return None, CRON
        throttle.record_failure(request)  # a wrong secret: the permission answers 401, the guess is counted
        return None

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="cron"'


class GuardedTokenAuthentication(TokenAuthentication):
    """DRF's `Authorization: Token <key>`, with each rejected key counted against the client address
    (core.throttling.FailedAuthenticationThrottle): past the rate, every token from that address
    gets 429 until the window moves, so guessing keys is as slow as the rate."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        words = get_authorization_header(request).split()
        if not words or words[0].lower() != self.keyword.lower().encode():
            return None  # no token: nothing guessed (the permission answers 401 if one is needed)
        throttle = FailedAuthenticationThrottle()
        throttle.refuse_if_spent(request)
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            throttle.record_failure(request)
            raise


class CronSecretScheme(OpenApiAuthenticationExtension):
    """The bearer scheme in the schema (registered on import, which the views do)."""

    target_class = CronSecretAuthentication
    name = "cronSecret"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "`Authorization: Bearer $CRON_SECRET`, as Vercel's cron sends it.",
        }
