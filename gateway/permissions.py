"""Who may call what. Every view names its permission; nothing relies on a default.

- `CanViewRuns`, `CanActOnRuns`, `CanRetryTasks` (`/api/orchestration/*`): staff, or any
  active user (an integration's token user) holding Django's model permissions: view
  permissions to read, change permissions to cancel, replay or retry.
- `IsTokenClientOrStaff`: any DRF token (intake integrations) or a staff session.
- `IsCron`: `Authorization: Bearer $CRON_SECRET` (Vercel cron; see gateway/authentication.py).
- `IsCronOrStaff`: either the cron or a staff user (the metrics rollup).
- `SignedByEngine`: a Standard Webhooks signature with a live key, for this route
  (core/signing.py: the engine's own calls and the agents' callbacks each have
  their key); the verified webhook-id is kept on the request.
- `Public`: anyone (health, schema, docs, the Stripe webhook, which checks its own signature).
"""

from __future__ import annotations

from typing import Any

from rest_framework.authtoken.models import Token
from rest_framework.permissions import SAFE_METHODS, AllowAny, BasePermission
from rest_framework.request import Request

from gateway.authentication import CRON
from gateway.exceptions import Unauthorized
from gateway.signatures import standard_verify


def _is_staff(request: Request) -> bool:
    user = request.user
    return bool(user is not None and user.is_authenticated and user.is_active and user.is_staff)


class Public(AllowAny):
    """Open to anyone: the view itself decides (health, schema, signed by a third party)."""


class ModelPermissions(BasePermission):
    """Base (do not use directly): staff, or an active user with every permission the method
    needs (`read` for GET/HEAD/OPTIONS, `act` for the rest), as `app_label.codename`.
    Like DRF's DjangoModelPermissions, but for views that act through services, not a queryset."""

    read: tuple[str, ...] = ()
    act: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        needed = ", ".join(self.read + self.act)
        return f"Staff, or a user with these permissions: {needed}."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if user is None or not user.is_authenticated or not user.is_active:
            return False
        if user.is_staff:
            return True
        needed = self.read if request.method in SAFE_METHODS else self.act
        return bool(needed) and user.has_perms(needed)


class CanViewRuns(ModelPermissions):
    read = ("orchestration.view_workflowrun", "orchestration.view_task")


class CanActOnRuns(ModelPermissions):
    """Cancel and replay: they change the run and its tasks."""

    act = ("orchestration.change_workflowrun", "orchestration.change_task")


class CanRetryTasks(ModelPermissions):
    act = ("orchestration.change_task",)


class IsTokenClientOrStaff(BasePermission):
    message = "Send `Authorization: Token <key>` (manage.py drf_create_token <user>), or sign in as staff."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        by_token = isinstance(request.auth, Token) and user is not None and user.is_active
        return by_token or _is_staff(request)


class IsCron(BasePermission):
    """Needs CronSecretAuthentication among the view's authenticators."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.auth is not CRON:
            raise Unauthorized("Send `Authorization: Bearer $CRON_SECRET`.")
        return True


class IsCronOrStaff(BasePermission):
    message = "Send `Authorization: Bearer $CRON_SECRET`, or sign in as staff."

    def has_permission(self, request: Request, view: Any) -> bool:
        return request.auth is CRON or _is_staff(request)


class SignedByEngine(BasePermission):
    """Verifies the raw body before any parsing; a failure is a 400 `bad_signature`."""

    def has_permission(self, request: Request, view: Any) -> bool:
        request.webhook_id = standard_verify(request.body, request.headers, route=request.path_info)
        return True
