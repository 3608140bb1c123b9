"""Fixtures of the HTTP surface's tests: secrets, personas, signed requests, Stripe events."""

from __future__ import annotations

import base64
import copy
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stripe
from django.contrib.auth.models import User
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from gateway.signatures import CALLBACK_ROUTE
from orders.models import Project
from tests.support.briefs import ORDER_BRIEF
from tests.support.personas import Agent, Customer

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

STRIPE_SECRET = "whsec_stripe_test_0123456789abcdef"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"current-key-0123456789abcdef0123").decode()
WEBHOOK_SECRET_NEXT = "whsec_" + base64.b64encode(b"next-key-0123456789abcdef01234567").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"someone-else-0123456789abcdef012").decode()
CRON_SECRET = "cron-secret-0123456789abcdef"


# The `customer` persona's order (tests/conftest.py), as the intake API receives it.
BRIEF = ORDER_BRIEF


@pytest.fixture(autouse=True)
def gateway_settings(settings: Any) -> Iterator[None]:
    settings.STRIPE_WEBHOOK_SECRET = STRIPE_SECRET
    settings.WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.WEBHOOK_SECRET_NEXT = WEBHOOK_SECRET_NEXT
    settings.CRON_SECRET = CRON_SECRET
    settings.ORCHESTRATION = {**settings.ORCHESTRATION, "KICK": False, "DISPATCH_MODE": "inline"}
    # The docs page renders {% static %}; no collectstatic manifest in tests.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    cache.clear()  # throttle counters
    yield
    cache.clear()


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def staff_client(staff: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff).key}")
    return client


@pytest.fixture
def integration_client(db: Any) -> APIClient:
    """A non-staff API client with a token (the intake form's backend)."""
    user = User.objects.create_user("intake", "intake@studio.example", "pw")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def outsider_client(outsider: User) -> APIClient:
    """Signed in, but neither staff nor holding a token."""
    client = APIClient()
    client.force_login(outsider)
    return client


@pytest.fixture
def project(customer: Customer) -> Project:
    """The customer's order (tests/conftest.py: customer), unpaid."""
    return customer.project


# --- Stripe ---------------------------------------------------------------------------------


def checkout_event(project_id: Any, **session: Any) -> dict[str, Any]:
    """The shared fixture event, naming `project_id`, with `session` fields overridden."""
    event = json.loads((FIXTURES / "stripe_checkout_session_completed.json").read_text())
    event = copy.deepcopy(event)
    event["data"]["object"]["client_reference_id"] = str(project_id)
    event["data"]["object"].update(session)
    return event


def stripe_headers(body: bytes, *, secret: str = STRIPE_SECRET, timestamp: int | None = None) -> dict[str, str]:
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp=timestamp)
    return {"HTTP_STRIPE_SIGNATURE": header}


def post_stripe(client: APIClient, event: dict[str, Any] | bytes, **sign: Any) -> Any:
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    return client.post(
        "/api/payments/webhook", data=body, content_type="application/json", **stripe_headers(body, **sign)
    )


# --- Standard Webhooks ------------------------------------------------------------------------


def standard_headers(
    body: bytes,
    *,
    secret: str = WEBHOOK_SECRET,
    msg_id: str | None = None,
    timestamp: float | None = None,
    route: str = CALLBACK_ROUTE,
) -> dict[str, str]:
    """Signed as a sender to `route` signs (the callback route: `secret` itself; the engine's own
    routes: the key derived from it for that route, gateway.signatures.route_key)."""
    return Agent(secret).headers(body, msg_id=msg_id, timestamp=timestamp, route=route)


def post_signed(client: APIClient, path: str, payload: Any, **sign: Any) -> Any:
    """POST `payload` to `path`, signed for that route (see standard_headers)."""
    return Agent(sign.pop("secret", WEBHOOK_SECRET)).post(client, path, payload, **sign)


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The one error shape, with the expected status (and code)."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"code", "message", "detail"}
    assert error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


# --- Logs -------------------------------------------------------------------------------------


def logged(caplog: pytest.LogCaptureFixture, action: str) -> list[logging.LogRecord]:
    """The captured records with this stable `action` key."""
    return [record for record in caplog.records if getattr(record, "action", None) == action]


def assert_nothing_secret_logged(caplog: pytest.LogCaptureFixture, *values: str) -> None:
    """No record, message or extra field, carries any of these values (secrets, signatures, keys)."""
    secrets = [value for value in (STRIPE_SECRET, WEBHOOK_SECRET, WEBHOOK_SECRET_NEXT, CRON_SECRET, *values) if value]
    for record in caplog.records:
        text = record.getMessage() + " " + " ".join(repr(v) for k, v in vars(record).items() if k != "msg")
        leaked = [secret for secret in secrets if secret in text]
        assert not leaked, f"{record.name} logged a secret value: {record.getMessage()!r}"
