"""Who may call what. Every view names its permission; nothing relies on a default.

- `IsStaff`: a staff user, by token or session (the admin's people, integrations).
- `IsTokenClientOrStaff`: any DRF token (intake integrations) or a staff session.
- `IsCron`: `Authorization: Bearer $CRON_SECRET` (Vercel cron).
- `IsCronOrStaff`: either of the above (the metrics rollup).
- `SignedByEngine`: a Standard Webhooks signature with a live key (the engine's
  own calls and the agents' callbacks); the verified webhook-id is kept on the request.
- `Public`: anyone (health, schema, docs, the Stripe webhook, which checks its own signature).
"""

from __future__ import annotations

from typing import Any

from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request

from gateway.exceptions import Unauthorized
from gateway.signatures import cron_authorized, standard_verify


def _is_staff(request: Request) -> bool:
    user = request.user
    return bool(user is not None and user.is_authenticated and user.is_active and user.is_staff)


class Public(AllowAny):
    """Open to anyone: the view itself decides (health, schema, signed by a third party)."""


class IsStaff(BasePermission):
    message = "Staff only: sign in to the admin, or send `Authorization: Token <key>` of a staff user."

    def has_permission(self, request: Request, view: Any) -> bool:
        return _is_staff(request)


class IsTokenClientOrStaff(BasePermission):
    message = "Send `Authorization: Token <key>` (manage.py drf_create_token <user>), or sign in as staff."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        by_token = isinstance(request.auth, Token) and user is not None and user.is_active
        return by_token or _is_staff(request)


class IsCron(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        if not cron_authorized(request.headers.get("Authorization")):
            raise Unauthorized("Send `Authorization: Bearer $CRON_SECRET`.")
        return True


class IsCronOrStaff(BasePermission):
    message = "Send `Authorization: Bearer $CRON_SECRET`, or sign in as staff."

    def has_permission(self, request: Request, view: Any) -> bool:
        return cron_authorized(request.headers.get("Authorization")) or _is_staff(request)


class SignedByEngine(BasePermission):
    """Verifies the raw body before any parsing; a failure is a 400 `bad_signature`."""

    def has_permission(self, request: Request, view: Any) -> bool:
        request.webhook_id = standard_verify(request.body, request.headers)
        return True
