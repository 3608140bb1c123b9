"""Rate limits per scope (rates in settings REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]).

One base keyed by the client (its user when authenticated, else its address:
on Vercel `X-Forwarded-For` is set by the platform, not the client) and one small
subclass per scope. The clock is DRF's `timer` class attribute: tests move it.
Counts live in Django's cache (per instance with the default local-memory cache).
"""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle


class ClientRateThrottle(SimpleRateThrottle):
    """Base (do not use directly): `scope` names the rate."""

    def get_cache_key(self, request: Request, view: Any) -> str:
        user = request.user
        ident = f"user:{user.pk}" if user is not None and user.is_authenticated else f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class IntakeThrottle(ClientRateThrottle):
    scope = "intake"  # creating projects: a few per minute per client


class PublicThrottle(ClientRateThrottle):
    scope = "public"  # schema and docs


class WebhookThrottle(ClientRateThrottle):
    scope = "webhook"  # generous: Stripe and the agents retry, and a refusal costs a retry


class StaffThrottle(ClientRateThrottle):
    scope = "staff"  # project reads and the engine's controls
