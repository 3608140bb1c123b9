"""The OpenAPI schema and its offline docs page; schemathesis finds no 500 in any operation."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core.signals import request_started
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from rest_framework.throttling import SimpleRateThrottle
from schemathesis.checks import not_a_server_error

from config.wsgi import application

SCHEMA = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.mark.django_db
def test_the_schema_describes_every_api_route() -> None:
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    paths = set(response.json()["paths"])
    assert {
        "/api/projects/",
        "/api/projects/{project_id}/",
        "/api/payments/webhook",
        "/api/orchestration/webhooks",
        "/api/orchestration/workflow",
        "/api/workflows/execute",
        "/api/system/metrics",
        "/api/health",
        "/api/orchestration/runs/",
        "/api/orchestration/runs/{run_id}/replay",
    } <= paths


@pytest.mark.django_db
def test_the_docs_page_loads_nothing_from_another_host() -> None:
    response = Client().get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any("swagger-ui" in s for s in sources)
    assert not [s for s in sources if s.startswith(("http://", "https://", "//"))]


@pytest.fixture
def staff_token(db: Any) -> str:
    user = User.objects.create_user("fuzz", "fuzz@studio.example", "pw", is_staff=True)
    return Token.objects.create(user=user).key


@pytest.fixture
def no_throttling() -> Iterator[None]:
    """A 429 would hide what the fuzzer is looking for."""
    original = SimpleRateThrottle.THROTTLE_RATES
    SimpleRateThrottle.THROTTLE_RATES = dict.fromkeys(original, "100000/min")
    yield
    SimpleRateThrottle.THROTTLE_RATES = original


@pytest.fixture
def keep_test_connection() -> Iterator[None]:
    """Calls go through the WSGI app, whose request_started would close the test's connection
    (Django's own test client unhooks it the same way)."""
    request_started.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)


@pytest.mark.django_db
@SCHEMA.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_operation_answers_500(case: Any, staff_token: str, no_throttling: None, keep_test_connection: None) -> None:
    case.call_and_validate(headers={"Authorization": f"Token {staff_token}"}, checks=[not_a_server_error])
