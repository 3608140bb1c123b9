"""The OpenAPI schema and its offline docs page; schemathesis finds no 500 in any operation.

Two fuzz runs, positive and negative cases (schemathesis's examples, coverage and fuzzing
phases), NUL bytes allowed in generated strings:

- every operation with the credentials it declares (a staff token, the cron bearer) and the
  signature headers as generated: the signature checks themselves are fuzzed;
- the signed operations with a valid signature over the exact bytes sent (Stripe-Signature by
  the stripe library, Standard Webhooks by the engine's own signer), so the JSON parsing and
  the validation behind the signature are fuzzed too.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
import stripe
from django.contrib.auth.models import User
from django.core.signals import request_started
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from rest_framework.throttling import SimpleRateThrottle
from schemathesis.checks import not_a_server_error
from schemathesis.core import NotSet
from schemathesis.transport.prepare import get_exclude_headers
from schemathesis.transport.wsgi import WSGI_TRANSPORT

from config.wsgi import application
from orchestration.dispatch import signed_headers
from tests.integration.gateway.conftest import CRON_SECRET, STRIPE_SECRET

CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {
            "mode": "all",  # positive and negative: malformed bodies, wrong types, missing fields
            "allow-x00": True,  # NUL in strings: what PostgreSQL refuses to store
            "max-examples": 25,  # per operation and run; both runs stay well under a minute
            "database": "none",  # no example database written into the checkout
        },
        "phases": {"stateful": {"enabled": False}},
    }
)
SCHEMA = schemathesis.openapi.from_wsgi("/api/schema/", application, config=CONFIG)

STRIPE_ROUTE = "/api/payments/webhook"
ENGINE_SIGNED = ("/api/orchestration/webhooks", "/api/workflows/execute", "/api/{agent}/{name}")
CRON_ROUTES = ("/api/orchestration/workflow", "/api/system/metrics")
SIGNED = SCHEMA.include(path=[STRIPE_ROUTE, *ENGINE_SIGNED])


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
def test_the_cron_routes_declare_their_bearer_and_json_is_the_only_body() -> None:
    schema = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    assert schema["components"]["securitySchemes"]["cronSecret"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer $CRON_SECRET`, as Vercel's cron sends it.",
    }
    tick = schema["paths"]["/api/orchestration/workflow"]["get"]
    rollup = schema["paths"]["/api/system/metrics"]["get"]
    assert tick["security"] == [{"cronSecret": []}]
    assert {"cronSecret": []} in rollup["security"] and {"tokenAuth": []} in rollup["security"]
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if "requestBody" in operation:
                assert set(operation["requestBody"]["content"]) == {"application/json"}, (method, path)


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


def credentials_for(case: Any, staff_token: str) -> dict[str, str]:
    """What the operation declares: the cron bearer for cron routes, else a staff token."""
    if case.path in CRON_ROUTES:
        return {"Authorization": f"Bearer {CRON_SECRET}"}
    return {"Authorization": f"Token {staff_token}"}


@pytest.mark.django_db
@SCHEMA.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_no_operation_answers_500(case: Any, staff_token: str, no_throttling: None, keep_test_connection: None) -> None:
    case.call_and_validate(headers=credentials_for(case, staff_token), checks=[not_a_server_error])


def wire_body(case: Any) -> bytes:
    """The bytes the transport sends for this case's body: what a signature must cover."""
    if isinstance(case.body, NotSet):
        return b""
    serialized = WSGI_TRANSPORT.serialize_case(case)
    if "json" in serialized:
        return json.dumps(serialized["json"]).encode()  # as werkzeug would; NaN included
    data = serialized.get("data", b"")
    return data if isinstance(data, bytes) else str(data).encode()


def signature_for(case: Any, body: bytes) -> dict[str, str]:
    """Valid signature headers over `body`; none for a body that is not UTF-8, since neither
    scheme can sign one (both HMAC the text): the route must refuse it all the same."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return {}
    if case.path == STRIPE_ROUTE:
        return {"Stripe-Signature": stripe.WebhookSignature.generate_signature_header(body.decode(), STRIPE_SECRET)}
    # The engine's own signer (what dispatch and kicks send), with a fresh id: no dedup short cut.
    return signed_headers(body, msg_id=f"msg_{uuid.uuid4().hex}", route=case.formatted_path)


@pytest.mark.django_db
@SIGNED.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_no_signed_operation_answers_500_behind_a_valid_signature(
    case: Any, no_throttling: None, keep_test_connection: None
) -> None:
    body = wire_body(case)
    signature = signature_for(case, body)

    response = case.call(headers=signature, data=body)

    assert response.status_code < 500, (response.status_code, response.content[:500], body[:500])
    # A negative case may drop a required header on purpose; otherwise the signature holds and
    # whatever was refused was the body (or the path), never the signature.
    dropped = {name.lower() for name in get_exclude_headers(case)} & {name.lower() for name in signature}
    if response.status_code == 400 and signature and not dropped:
        assert response.json()["error"]["code"] != "bad_signature", response.json()
