"""Rate limits per scope (rates in settings REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]).

One base keyed by the client (its user when authenticated, else its address) and
one small subclass per scope. The address is `client_address`: REMOTE_ADDR, or the
hop our own proxies saw (TRUSTED_PROXY_COUNT), or a header the platform sets
(CLIENT_IP_HEADER; Vercel's X-Vercel-Forwarded-For there), never what a client wrote
into X-Forwarded-For: rotating that header would otherwise dodge every limit.
The clock is DRF's `timer` class attribute: tests move it.
Counts live in Django's cache (per instance with the default local-memory cache).
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger("gateway")
ViewFunc = Callable[..., HttpResponse]


def client_address(request: Request | HttpRequest) -> str:
    """The client's address as far as we can trust it (see CLIENT_IP_HEADER and TRUSTED_PROXY_COUNT
    in config/settings.py)."""
    remote = str(request.META.get("REMOTE_ADDR") or "")
    if settings.CLIENT_IP_HEADER:
        platform = (request.headers.get(settings.CLIENT_IP_HEADER) or "").split(",")[0].strip()
        if platform:
            return platform[:64]
    count = settings.TRUSTED_PROXY_COUNT
    if count:
        hops = [hop.strip() for hop in str(request.META.get("HTTP_X_FORWARDED_FOR") or "").split(",")]
        hops = [hop for hop in hops if hop]
        # Each of our `count` proxies appended what it saw: the outermost one's entry is the client.
        # Anything to its left was written by the client. Fewer hops: it did not come through them.
        if len(hops) >= count:
            return hops[-count][:64]
    return remote


class ClientRateThrottle(SimpleRateThrottle):
    """Base (do not use directly): `scope` names the rate."""

    def get_ident(self, request: Request | HttpRequest) -> str:
        return client_address(request)

    def get_cache_key(self, request: Request | HttpRequest, view: Any) -> str:
        user = getattr(request, "user", None)
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


class CustomerPageThrottle(ClientRateThrottle):
    scope = "customer"  # the status page and its feed (polled every few seconds), published sites


class OrderFormThrottle(ClientRateThrottle):
    scope = "order"  # order-page submissions: each one creates a project and a Checkout Session


def throttle_page(throttle_class: type[ClientRateThrottle]) -> Callable[[ViewFunc], ViewFunc]:
    """The same rate limit for a plain Django view (no DRF): 429 with Retry-After when spent."""

    def decorate(view: ViewFunc) -> ViewFunc:
        @functools.wraps(view)
        def throttled(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            throttle = throttle_class()
            if not throttle.allow_request(request, None):
                wait = throttle.wait()
                logger.warning("page throttled", extra={"action": "throttled", "scope": throttle.scope})
                response = HttpResponse(
                    "Too many requests; try again shortly.\n", status=429, content_type="text/plain"
                )
                if wait is not None:
                    response["Retry-After"] = str(max(1, math.ceil(wait)))
                return response
            return view(request, *args, **kwargs)

        return throttled

    return decorate


class FailedAuthenticationThrottle(ClientRateThrottle):
    """Rejected credentials per client address (never per user: a failed attempt has none).

    DRF authenticates before it throttles, so without this a bad token is a free 401, as many as a
    client cares to send: guessing tokens or the cron secret would cost nothing. The authenticators
    in gateway/authentication.py record each rejection here and refuse, with 429, any credential
    (a valid one too, so a guess learns nothing) from an address past the rate.
    """

    scope = "auth_failures"

    def get_cache_key(self, request: Request | HttpRequest, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": f"ip:{self.get_ident(request)}"}

    def refuse_if_spent(self, request: Request | HttpRequest) -> None:
        """Raise Throttled when the address has used up its failures; records nothing."""
        self.key = self.get_cache_key(request, None)
        self.now = self.timer()
        self.history = [t for t in self.cache.get(self.key, []) if t > self.now - self.duration]
        if len(self.history) >= self.num_requests:
            logger.warning("authentication throttled", extra={"action": "throttled", "scope": self.scope})
            raise Throttled(wait=self.wait())

    def record_failure(self, request: Request | HttpRequest) -> None:
        self.allow_request(request, None)  # appends now to the address's history (while under the rate)
