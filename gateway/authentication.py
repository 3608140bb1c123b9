"""Who is calling, beyond DRF's token and session: Vercel's cron, by `Bearer $CRON_SECRET`.

Authentication identifies the caller (`request.auth is CRON`); the permission
classes in gateway/permissions.py decide. Being an authentication class also
puts the bearer scheme into the OpenAPI schema (the extension below), so
clients and the schema fuzzer know how the cron routes authenticate.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

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
        if cron_authorized(request.headers.get("Authorization")):
            return None, CRON
        return None

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="cron"'


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
