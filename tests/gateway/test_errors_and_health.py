"""One error shape on every /api/ path, whoever raised it; the health check."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from metrics.models import ErrorGroup
from tests.gateway.conftest import BRIEF, assert_error

pytestmark = pytest.mark.django_db


def test_an_unknown_api_path_is_a_json_404(api: APIClient) -> None:
    assert_error(api.get("/api/nothing/here"), 404, "not_found")


def test_a_wrong_method_is_a_json_405(api: APIClient) -> None:
    response = api.delete("/api/health")

    assert_error(response, 405, "method_not_allowed")


def test_an_unhandled_error_is_a_json_500_recorded_without_its_traceback_in_the_body(
    integration_client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**brief: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr("gateway.views.projects.project_create", broken)
    integration_client.raise_request_exception = False

    response = integration_client.post("/api/projects/", BRIEF, format="json")

    error = assert_error(response, 500, "server_error")
    assert "secret internals" not in response.content.decode()
    assert error["detail"] is None
    assert ErrorGroup.objects.get(error_type="RuntimeError").count == 1


def test_oversized_bodies_are_refused_before_any_view_reads_them(integration_client: APIClient) -> None:
    response = integration_client.post(
        "/api/projects/", data=b"{" + b" " * (1024 * 1024) + b"}", content_type="application/json"
    )

    assert_error(response, 413, "body_too_large")


def test_health_checks_the_database_without_auth(api: APIClient) -> None:
    response = api.get("/api/health")

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["database"], body["version"]) == ("ok", "ok", "0.1.0")
    assert body["database_ms"] < 100
    assert response["Cache-Control"] == "no-store"


def test_health_is_never_throttled(api: APIClient) -> None:
    assert {api.get("/api/health").status_code for _ in range(50)} == {200}
