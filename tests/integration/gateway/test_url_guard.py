"""Guard: every URL in the URLconf refuses an anonymous call unless it is meant to be public,
and every DRF view names its permission, authentication and throttles explicitly."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.views import APIView

from gateway.permissions import ModelPermissions
from gateway.views.base import JsonApi
from gateway.views.schema import DocsView, SchemaView

pytestmark = pytest.mark.django_db

# Public on purpose, each for a reason.
PUBLIC = {
    "admin/login/": "the staff sign-in page",
    "admin/logout/": "signing out needs no rights",
    "admin/jsi18n/": "the admin's translation catalogue",
    "status/<str:token>/": "the unguessable token is the key",
    "status/<str:token>/feed.json": "the unguessable token is the key",
    "status/<str:token>/changes": "the unguessable token is the key (and the form's CSRF token)",
    "order/": "the public order page: anyone may buy",
    "order/demo-checkout/<str:token>/": "the local demo's stand-in for Checkout (a 404 unless ORDER_DEMO_CHECKOUT "
    "and no STRIPE_API_KEY); the unguessable token is the key",
    "sites/<slug:slug>/": "published customer sites",
    "sites/<slug:slug>/<path:path>": "published customer sites",
    "sites/<slug:slug>/contact": "the published sites' contact form (throttled, honeypot, Origin-checked)",
    "api/health": "uptime checks",
    "api/schema/": "the API's description",
    "api/docs/": "the API's documentation page",
    "": "the landing page: where to order, the back office, the API docs",
}

# Examples for regex routes (a new regex route must add one here). The admin's app index lists
# every app with a ModelAdmin, so it is matched by its prefix: a new app's admin changes nothing.
ADMIN_APP_INDEX = "admin/^(?P<app_label>"
REGEX_EXAMPLES = {
    "admin/(?P<url>.*)$": "/admin/anything/",
    "^admin/agents/sideeffect/(?P<rest>.*)$": "/admin/agents/sideeffect/1/change/",
    "^api/(?P<agent>core-platform|design-ia|automation|ads-management|engine)/(?P<name>[a-z][a-z0-9-]{0,60})$": (
        "/api/engine/echo"
    ),
}

# Fixed values: test ids stay the same from one run to the next.
SAMPLES = {"uuid": str(uuid.UUID(int=1, version=4)), "int": "1", "path": "1", "str": "1", "slug": "x"}


def all_patterns(resolver: URLResolver | None = None, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            yield from all_patterns(entry, prefix + str(entry.pattern))
        else:
            yield prefix + str(entry.pattern), entry


def example_path(route: str) -> str:
    if route in REGEX_EXAMPLES:
        return REGEX_EXAMPLES[route]
    if route.startswith(ADMIN_APP_INDEX):
        return "/admin/auth/"
    assert "(?P<" not in route and "^" not in route, f"add an example for the regex route {route!r}"
    return "/" + re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLES[m.group(1) or "str"], route)


def refused(response: Any) -> bool:
    if response.status_code in (400, 401, 403, 405):
        return True
    return response.status_code == 302 and response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize(("route", "pattern"), list(all_patterns()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_url_refuses_an_anonymous_call_unless_public(route: str, pattern: URLPattern) -> None:
    if route in PUBLIC:
        return
    client = Client()
    path = example_path(route)
    answers = {method: getattr(client, method)(path) for method in ("get", "post")}

    assert any(r.status_code != 405 for r in answers.values()), f"{route}: no method answers"
    for method, response in answers.items():
        assert refused(response), f"{method.upper()} {path} answered {response.status_code} to an anonymous caller"


def test_every_drf_view_declares_its_permissions_authentication_and_throttles() -> None:
    views = [p.callback.cls for _, p in all_patterns() if getattr(p.callback, "cls", None)]
    assert views
    for view in views:
        if not issubclass(view, APIView):
            continue
        for attribute in ("permission_classes", "throttle_classes"):
            assert attribute in _own_attributes(view), f"{view.__name__} must declare {attribute}"


def _own_attributes(view: type) -> set[str]:
    names: set[str] = set()
    for klass in view.__mro__:
        if klass is APIView:
            break
        names |= set(vars(klass))
    return names


# Under /api/orchestration/ but not the engine's controls: each has its own caller and auth.
NOT_CONTROLS = {"api/orchestration/webhooks": "agents, signed", "api/orchestration/workflow": "Vercel cron"}


def test_the_engines_controls_are_open_to_staff_and_to_integrations_by_model_permission() -> None:
    controls = [(r, p) for r, p in all_patterns() if r.startswith("api/orchestration/") and r not in NOT_CONTROLS]
    assert len(controls) >= 5
    for route, pattern in controls:
        permissions = pattern.callback.cls.permission_classes
        assert any(issubclass(p, ModelPermissions) for p in permissions), f"{route}: use a ModelPermissions class"


def test_every_gateway_api_view_speaks_strict_json_whatever_the_client_accepts() -> None:
    views = {p.callback.cls for _, p in all_patterns() if getattr(p.callback, "cls", None)}
    gateway_views = {v for v in views if v.__module__.startswith("gateway.") and v not in (SchemaView, DocsView)}
    assert len(gateway_views) >= 10
    for view in gateway_views:
        assert issubclass(view, JsonApi), f"{view.__name__} must mix in gateway.views.base.JsonApi"
