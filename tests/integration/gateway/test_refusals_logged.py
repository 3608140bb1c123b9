"""Every refused request leaves a log line with a stable `action` key (and its code), and no log
line carries a secret, a signature, a token key or the bearer: logs are read by more people than
the secrets are meant for."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from orders.models import Project
from tests.integration.gateway.conftest import (
    CRON_SECRET,
    OTHER_SECRET,
    assert_error,
    assert_nothing_secret_logged,
    checkout_event,
    logged,
    standard_headers,
    stripe_headers,
)

pytestmark = pytest.mark.django_db

Send = Callable[[APIClient, Project], tuple[Any, list[str]]]


def _stripe(body_of: Callable[[Project], bytes], **sign: Any) -> Send:
    def send(client: APIClient, project: Project) -> tuple[Any, list[str]]:
        body = body_of(project)
        headers = stripe_headers(body, **sign)
        response = client.post("/api/payments/webhook", data=body, content_type="application/json", **headers)
        return response, [headers["HTTP_STRIPE_SIGNATURE"], headers["HTTP_STRIPE_SIGNATURE"].split("v1=")[1]]

    return send


def _event(project: Project) -> bytes:
    return json.dumps(checkout_event(project.id)).encode()


def _tampered_stripe(client: APIClient, project: Project) -> tuple[Any, list[str]]:
    body = _event(project)
    headers = stripe_headers(body)
    response = client.post(
        "/api/payments/webhook", data=body.replace(b"39900", b"00100"), content_type="application/json", **headers
    )
    return response, [headers["HTTP_STRIPE_SIGNATURE"]]


def _standard(*, tamper: bool = False, **sign: Any) -> Send:
    def send(client: APIClient, project: Project) -> tuple[Any, list[str]]:
        body = json.dumps({"runId": None}).encode()
        headers = standard_headers(body, route="/api/workflows/execute", **sign)
        sent = body.replace(b"null", b"1") if tamper else body
        response = client.post("/api/workflows/execute", data=sent, content_type="application/json", **headers)
        return response, [headers["HTTP_WEBHOOK_SIGNATURE"], headers["HTTP_WEBHOOK_SIGNATURE"].split(",", 1)[1]]

    return send


def _cron(authorization: str) -> Send:
    def send(client: APIClient, project: Project) -> tuple[Any, list[str]]:
        return client.get("/api/orchestration/workflow", HTTP_AUTHORIZATION=authorization), [authorization]

    return send


def _bad_token(client: APIClient, project: Project) -> tuple[Any, list[str]]:
    key = "0123456789abcdef0123456789abcdef01234567"
    return client.post("/api/projects/", {}, format="json", HTTP_AUTHORIZATION=f"Token {key}"), [key]


def _staff_token_on_the_cron_route(client: APIClient, project: Project) -> tuple[Any, list[str]]:
    staff = User.objects.create_user("ops", "ops@studio.example", "pw", is_staff=True)
    key = Token.objects.create(user=staff).key
    return client.get("/api/orchestration/workflow", HTTP_AUTHORIZATION=f"Token {key}"), [key]


# name -> (how to send it, the expected status, the expected error code)
REFUSALS: dict[str, tuple[Send, int, str]] = {
    "stripe_tampered": (_tampered_stripe, 400, "bad_signature"),
    "stripe_wrong_secret": (_stripe(_event, secret=OTHER_SECRET), 400, "bad_signature"),
    "stripe_stale": (_stripe(_event, timestamp=int(time.time()) - 301), 400, "bad_signature"),
    "standard_tampered": (_standard(tamper=True), 400, "bad_signature"),
    "standard_wrong_secret": (_standard(secret=OTHER_SECRET), 400, "bad_signature"),
    "standard_stale": (_standard(timestamp=time.time() - 301), 400, "bad_signature"),
    "cron_wrong_bearer": (_cron(f"Bearer {CRON_SECRET}x"), 401, "unauthorized"),
    "cron_lowercase": (_cron(f"bearer {CRON_SECRET}"), 401, "unauthorized"),
    "cron_with_a_staff_token": (_staff_token_on_the_cron_route, 401, "unauthorized"),
    "unknown_token": (_bad_token, 401, "authentication_failed"),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_a_refused_request_is_logged_with_its_code_and_no_secret(
    name: str, api: APIClient, project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    send, status, code = REFUSALS[name]

    response, secrets = send(api, project)

    assert_error(response, status, code)
    (record,) = logged(caplog, "api_error")
    assert (record.status, record.code, record.path) == (status, code, response.wsgi_request.path)
    assert_nothing_secret_logged(caplog, *secrets)


def test_an_oversized_body_is_logged_with_its_limit(api: APIClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)

    response = api.post(
        "/api/payments/webhook", data=b"[" + b" " * (1024 * 1024) + b"]", content_type="application/json"
    )

    assert_error(response, 413, "body_too_large")
    (record,) = logged(caplog, "body_too_large")
    assert record.limit == 1024 * 1024 and record.path == "/api/payments/webhook"


def test_a_missing_signature_header_is_logged(api: APIClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)

    assert_error(api.post("/api/orchestration/webhooks", {}, format="json"), 400, "bad_signature")
    assert [r.code for r in logged(caplog, "api_error")] == ["bad_signature"]


def test_the_secret_check_itself_catches_a_leak(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    logging.getLogger("gateway").info("refused", extra={"action": "x", "header": f"Bearer {CRON_SECRET}"})

    with pytest.raises(AssertionError, match="logged a secret value"):
        assert_nothing_secret_logged(caplog)
