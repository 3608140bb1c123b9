"""One error shape on every /api/ path, whoever raised it and whatever the client accepts; the
health check, up and with its database gone."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from metrics.models import ErrorGroup
from tests.integration.gateway.conftest import BRIEF, assert_error

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


@pytest.mark.django_db(transaction=True)
def test_health_answers_503_json_when_the_database_is_unreachable(
    unreachable_database: None, caplog: pytest.LogCaptureFixture
) -> None:
    client = APIClient()
    client.raise_request_exception = False

    response = client.get("/api/health")

    error = assert_error(response, 503, "database_unavailable")
    assert error["detail"] == {"error": "OperationalError"}
    assert response["Cache-Control"] == "no-store"
    assert not [r for r in caplog.records if getattr(r, "action", None) == "api_unhandled"]


def test_a_browser_asking_for_html_still_gets_the_json_error_with_its_fields(integration_client: APIClient) -> None:
    response = integration_client.post(
        "/api/projects/", {"business_name": "", "contact_email": "nope"}, format="json", HTTP_ACCEPT="text/html"
    )

    error = assert_error(response, 400, "invalid")
    assert set(error["detail"]) == {"business_name", "contact_email"}


@pytest.mark.parametrize(
    "accept", ["text/html", "text/html,application/xhtml+xml,*/*;q=0.8", "application/xml", "image/png"]
)
def test_every_api_answer_is_json_whatever_the_client_accepts(
    accept: str, staff_client: APIClient, project: Any
) -> None:
    ok = staff_client.get(f"/api/projects/{project.id}/", HTTP_ACCEPT=accept)
    invalid = staff_client.get("/api/orchestration/runs/?status=exploded", HTTP_ACCEPT=accept)
    wrong_method = staff_client.delete("/api/health", HTTP_ACCEPT=accept)
    with_format = staff_client.get(f"/api/projects/{project.id}/?format=api", HTTP_ACCEPT=accept)

    assert ok.status_code == 200 and ok.json()["id"] == str(project.id)
    assert_error(invalid, 400, "invalid_filter")
    assert_error(wrong_method, 405, "method_not_allowed")
    assert with_format.status_code == 200 and with_format["Content-Type"] == "application/json"


def test_intake_takes_json_only(integration_client: APIClient) -> None:
    response = integration_client.post("/api/projects/", {"business_name": "x", "contact_email": "a@b.example"})

    assert_error(response, 415, "unsupported_media_type")
