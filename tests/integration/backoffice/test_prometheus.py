"""/metrics: Prometheus' text format read from the database, behind a bearer token."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from metrics.rollups import rollup
from orchestration.services import enqueue
from tests.integration.backoffice.test_rollups import attempts

pytestmark = pytest.mark.django_db
TOKEN = "scrape-secret-123"


@pytest.fixture(autouse=True)
def token(settings):
    settings.METRICS_TOKEN = TOKEN


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_parse_with_prometheus_own_parser_and_tell_the_database_figures(client, clock):
    enqueue("engine.noop", {})
    clock.advance(60)
    attempts(clock, "design-ia.generate", [float(ms) for ms in range(1, 101)])
    clock.advance(300)
    rollup()
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    found = samples(response.content.decode())
    assert found[("engine_queue_depth", ())] == 1
    assert found[("engine_oldest_waiting_seconds", ())] == 360
    assert found[("engine_tasks", (("status", "queued"),))] == 1
    assert found[("rollup_attempt_duration_seconds", (("action", "design-ia.generate"), ("quantile", "0.95")))] == 0.095
    assert found[("rollup_attempts", (("action", "design-ia.generate"), ("outcome", "succeeded")))] == 100
    assert found[("rollup_attempt_duration_bucket", (("action", "design-ia.generate"), ("le", "+Inf")))] == 100
    assert found[("rollup_attempt_duration_bucket", (("action", "design-ia.generate"), ("le", "0.05")))] == 50


def test_attempts_are_scraped_at_once_before_any_rollup_and_marked_so(client, clock):
    clock.advance(60)  # 09:01
    attempts(clock, "design-ia.generate", [10.0, 20.0, 30.0])
    clock.advance(300)  # 09:06: the 09:00 window is complete, and the cron has not run
    attempts(clock, "automation.build", [40.0])  # in the window under way
    found = samples(client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode())
    assert found[("rollup_window_stored", ())] == 0
    assert found[("rollup_attempts", (("action", "design-ia.generate"), ("outcome", "succeeded")))] == 3
    assert found[("rollup_agent_attempt_duration_seconds", (("agent", "design-ia"), ("quantile", "0.5")))] == 0.02
    assert found[("live_window_attempts", (("action", "automation.build"), ("outcome", "succeeded")))] == 1
    assert found[("live_window_start_timestamp_seconds", ())] == clock.now().replace(minute=5, second=0).timestamp()
    rollup()
    found = samples(client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode())
    assert found[("rollup_window_stored", ())] == 1
    assert found[("rollup_attempts", (("action", "design-ia.generate"), ("outcome", "succeeded")))] == 3


def test_no_token_is_401_with_a_json_error(client):
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_wrong_token_is_403(client):
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token")
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"


def test_a_staff_session_may_scrape_and_a_customer_session_may_not(client, superuser, outsider):
    client.force_login(outsider)
    assert client.get("/metrics").status_code == 403
    client.force_login(superuser)
    assert client.get("/metrics").status_code == 200


def test_with_no_token_configured_no_bearer_opens_it(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 403
