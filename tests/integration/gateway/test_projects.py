"""The project API's contract: create an order, read it, refuse bad briefs field by field."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from orders.models import Project, ProjectStatus
from tests.integration.gateway.conftest import BRIEF, assert_error
from tests.support.briefs import FRENCH_LEGAL

pytestmark = pytest.mark.django_db

INVALID_BRIEF = {
    "business_name": "",
    "sector": "bakery",
    "city": "Lyon",
    "description": "An invalid brief: empty business name, malformed colour, unknown language.",
    "pages": [],
    "brand_color": "brown",
    "language": "de",
    "contact_email": "not-an-email",
}


def test_a_valid_brief_creates_a_project_awaiting_payment(integration_client: APIClient, settings: Any) -> None:
    response = integration_client.post("/api/projects/", BRIEF, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    project = Project.objects.get(id=body["id"])
    assert body["status"] == ProjectStatus.AWAITING_PAYMENT == project.status
    assert body["progress"] == {"done": 0, "total": 0}
    assert body["status_url"] == f"{settings.SITE_URL}/status/{project.status_token}/"
    assert body["site_url"] is None
    assert body["delivered_at"] is None and body["created_at"]
    assert body["pages"] == BRIEF["pages"]


def test_defaults_fill_pages_and_language(integration_client: APIClient) -> None:
    response = integration_client.post(
        "/api/projects/", {"business_name": "Plomberie", "contact_email": "a@b.example", **FRENCH_LEGAL}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["pages"] == ["Home", "About", "Services", "Contact"]
    assert response.json()["language"] == "fr"


def test_the_invalid_fixture_brief_is_refused_naming_each_bad_field(integration_client: APIClient) -> None:
    response = integration_client.post("/api/projects/", INVALID_BRIEF, format="json")

    error = assert_error(response, 400, "invalid")
    assert set(error["detail"]) == {"business_name", "pages", "brand_color", "language", "contact_email"}
    for field in error["detail"]:
        assert field in error["message"]
    assert not Project.objects.exists()


@pytest.mark.parametrize(
    ("pages", "reason"),
    [
        (["Home", "home"], "unique"),
        (["x" * 61], "60"),
        ([f"Page {i}" for i in range(13)], "12"),
        (["   "], "blank"),
        ("Home", "list"),
    ],
)
def test_pages_must_be_1_to_12_unique_short_titles(integration_client: APIClient, pages: Any, reason: str) -> None:
    response = integration_client.post("/api/projects/", {**BRIEF, "pages": pages}, format="json")

    error = assert_error(response, 400, "invalid")
    assert list(error["detail"]) == ["pages"]
    assert reason in str(error["detail"]["pages"]).lower()


def test_wrong_types_are_refused_without_a_500(integration_client: APIClient) -> None:
    response = integration_client.post(
        "/api/projects/", {"business_name": ["x"], "contact_email": 3, "pages": {"a": 1}}, format="json"
    )

    error = assert_error(response, 400, "invalid")
    assert {"business_name", "contact_email", "pages"} <= set(error["detail"])


def test_a_body_that_is_not_json_is_a_400(integration_client: APIClient) -> None:
    response = integration_client.post("/api/projects/", data=b"{not json", content_type="application/json")

    assert_error(response, 400, "malformed_body")


def test_intake_needs_a_token_or_staff(api: APIClient, outsider_client: APIClient) -> None:
    assert_error(api.post("/api/projects/", BRIEF, format="json"), 401, "not_authenticated")
    assert_error(outsider_client.post("/api/projects/", BRIEF, format="json"), 403, "permission_denied")
    assert not Project.objects.exists()


def test_a_project_reads_back_with_its_contract_fields(integration_client: APIClient) -> None:
    created = integration_client.post("/api/projects/", BRIEF, format="json")
    project = Project.objects.get(id=created.json()["id"])  # owned by the integration that created it
    project.site_url = "https://boulangerie.example/"
    project.save()

    response = integration_client.get(f"/api/projects/{project.id}/")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(project.id)
    assert body["site_url"] == "https://boulangerie.example/"
    assert {"id", "status", "progress", "status_url", "site_url", "created_at", "delivered_at"} <= set(body)


def test_an_unknown_project_is_a_json_404(integration_client: APIClient) -> None:
    assert_error(integration_client.get(f"/api/projects/{uuid.uuid4()}/"), 404, "unknown_project")
    assert_error(integration_client.get("/api/projects/not-a-uuid/"), 404, "not_found")


def test_intake_is_throttled_per_client(integration_client: APIClient, settings: Any) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "intake": "2/min"},
    }
    original = SimpleRateThrottle.THROTTLE_RATES
    SimpleRateThrottle.THROTTLE_RATES = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    try:
        statuses = [integration_client.post("/api/projects/", BRIEF, format="json").status_code for _ in range(3)]
        third = integration_client.post("/api/projects/", BRIEF, format="json")
    finally:
        SimpleRateThrottle.THROTTLE_RATES = original

    assert statuses == [201, 201, 429]
    error = assert_error(third, 429, "throttled")
    assert error["detail"]["retry_after_seconds"] > 0
    assert third["Retry-After"]
