"""The payment webhook: verified over the raw body, stored once, one workflow per paid order."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from gateway.models import EventStatus, WebhookEvent
from orchestration.models import Task, TaskStatus, WorkflowRun
from orders.models import Project, ProjectStatus
from orders.services import project_create
from tests.integration.gateway.conftest import (
    BRIEF,
    OTHER_SECRET,
    assert_error,
    checkout_event,
    post_stripe,
    stripe_headers,
)

pytestmark = pytest.mark.django_db


def test_a_paid_checkout_starts_one_workflow_and_marks_the_project_paid(api: APIClient, project: Project) -> None:
    response = post_stripe(api, checkout_event(project.id))

    assert response.status_code == 200, response.content
    assert response.json()["status"] == EventStatus.PROCESSED and response.json()["duplicate"] is False
    project.refresh_from_db()
    assert project.status in (ProjectStatus.PAID, ProjectStatus.IN_PROGRESS)
    assert project.checkout_session_id == "cs_test_a1demoB2c3D4e5F6g7H8i9J0kLmNoPqRsTuV"
    run = WorkflowRun.objects.get(project=project)
    assert run.workflow == "order"
    event = WebhookEvent.objects.get()
    assert (event.source, event.external_id, event.attempts) == ("stripe", "evt_1QdemoA2eZvKYlo2C0ffeeAa", 1)
    assert str(run.id) in event.outcome


def test_the_same_event_twice_starts_one_workflow(api: APIClient, project: Project) -> None:
    first = post_stripe(api, checkout_event(project.id))
    second = post_stripe(api, checkout_event(project.id))

    assert first.status_code == second.status_code == 200
    assert second.json()["duplicate"] is True
    assert WorkflowRun.objects.filter(project=project).count() == 1
    assert WebhookEvent.objects.get().attempts == 1


def test_completed_then_async_succeeded_for_one_payment_start_one_workflow(api: APIClient, project: Project) -> None:
    post_stripe(api, checkout_event(project.id))
    later = checkout_event(project.id)
    later["id"], later["type"] = "evt_async_2", "checkout.session.async_payment_succeeded"

    response = post_stripe(api, later)

    assert response.status_code == 200
    assert response.json()["status"] == EventStatus.PROCESSED
    assert "Already fulfilled" in response.json()["outcome"]
    assert WorkflowRun.objects.filter(project=project).count() == 1


def test_an_async_payment_is_fulfilled_when_it_succeeds(api: APIClient, project: Project) -> None:
    pending = post_stripe(api, checkout_event(project.id, payment_status="unpaid"))
    succeeded = checkout_event(project.id)
    succeeded["id"], succeeded["type"] = "evt_async_ok", "checkout.session.async_payment_succeeded"

    paid = post_stripe(api, succeeded)

    assert pending.json()["status"] == EventStatus.IGNORED
    assert paid.json()["status"] == EventStatus.PROCESSED
    assert WorkflowRun.objects.filter(project=project).count() == 1


@pytest.mark.parametrize(
    ("session", "status", "words"),
    [
        ({"amount_total": 100}, EventStatus.REJECTED, "wrong_amount"),
        ({"currency": "usd"}, EventStatus.REJECTED, "wrong_amount"),
        ({"payment_status": "unpaid"}, EventStatus.IGNORED, "payment_status='unpaid'"),
        ({"client_reference_id": "not-a-uuid"}, EventStatus.REJECTED, "unknown_project"),
        ({"client_reference_id": "8b0f7d2c-7d1e-4a8e-9d0c-0f5a3c1b2e4d"}, EventStatus.REJECTED, "unknown_project"),
    ],
)
def test_a_payment_that_does_not_pay_for_an_order_is_recorded_and_starts_nothing(
    api: APIClient, project: Project, session: dict[str, Any], status: str, words: str
) -> None:
    event = checkout_event(project.id)
    event["data"]["object"].update(session)

    response = post_stripe(api, event)

    assert response.status_code == 200  # Stripe would redeliver anything else for three days
    assert response.json()["status"] == status
    assert words in response.json()["outcome"]
    assert not WorkflowRun.objects.exists()
    project.refresh_from_db()
    assert project.status == ProjectStatus.AWAITING_PAYMENT
    assert WebhookEvent.objects.get().status == status


def test_an_unhandled_event_type_is_recorded_as_ignored(api: APIClient, project: Project) -> None:
    event = checkout_event(project.id)
    event["type"] = "customer.created"

    response = post_stripe(api, event)

    assert response.status_code == 200
    assert response.json()["status"] == EventStatus.IGNORED
    assert not WorkflowRun.objects.exists()


def _no_row_changed(project: Project) -> None:
    assert not WebhookEvent.objects.exists()
    assert not WorkflowRun.objects.exists()
    project.refresh_from_db()
    assert project.status == ProjectStatus.AWAITING_PAYMENT


def test_a_tampered_body_is_refused(api: APIClient, project: Project) -> None:
    body = json.dumps(checkout_event(project.id)).encode()
    headers = stripe_headers(body)
    tampered = body.replace(b"39900", b"00100")

    response = api.post("/api/payments/webhook", data=tampered, content_type="application/json", **headers)

    assert_error(response, 400, "bad_signature")
    _no_row_changed(project)


def test_a_wrong_secret_is_refused(api: APIClient, project: Project) -> None:
    assert_error(post_stripe(api, checkout_event(project.id), secret=OTHER_SECRET), 400, "bad_signature")
    _no_row_changed(project)


def test_a_stale_timestamp_is_refused(api: APIClient, project: Project) -> None:
    response = post_stripe(api, checkout_event(project.id), timestamp=int(time.time()) - 301)

    error = assert_error(response, 400, "bad_signature")
    assert "tolerance" in error["message"]
    _no_row_changed(project)


@pytest.mark.parametrize("header", [None, "", "garbage", "t=abc,v1=zz", "v1=deadbeef"])
def test_a_missing_or_malformed_signature_header_is_refused(api: APIClient, project: Project, header: Any) -> None:
    extra = {} if header is None else {"HTTP_STRIPE_SIGNATURE": header}
    body = json.dumps(checkout_event(project.id)).encode()

    response = api.post("/api/payments/webhook", data=body, content_type="application/json", **extra)

    assert_error(response, 400, "bad_signature")
    _no_row_changed(project)


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"id": 3}', b'"text"', b"\xff\xfe"])
def test_a_signed_body_that_is_not_a_stripe_event_is_refused(api: APIClient, project: Project, body: bytes) -> None:
    headers = {"HTTP_STRIPE_SIGNATURE": "t=1,v1=0"}
    if body != b"\xff\xfe":
        headers = stripe_headers(body)

    response = api.post("/api/payments/webhook", data=body, content_type="application/json", **headers)

    assert_error(response, 400, "malformed_body")
    _no_row_changed(project)


def test_a_body_over_one_megabyte_is_a_413(api: APIClient, project: Project) -> None:
    event = checkout_event(project.id)
    event["padding"] = "x" * (1024 * 1024)

    response = post_stripe(api, event)

    assert_error(response, 413, "body_too_large")
    _no_row_changed(project)


def test_an_unconfigured_secret_is_a_503_not_a_crash(api: APIClient, project: Project, settings: Any) -> None:
    settings.STRIPE_WEBHOOK_SECRET = ""

    assert_error(post_stripe(api, checkout_event(project.id)), 503, "not_configured")
    _no_row_changed(project)


def test_the_first_dispatch_is_kicked_only_after_the_commit(
    api: APIClient, project: Project, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    kicked: list[Any] = []
    monkeypatch.setattr("orchestration.dispatch.kick", lambda run_id=None: kicked.append(run_id))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        post_stripe(api, checkout_event(project.id))
        assert kicked == []

    run = WorkflowRun.objects.get(project=project)
    for callback in callbacks:
        callback()
    assert kicked == [run.id]
    assert Task.objects.filter(run=run, status=TaskStatus.QUEUED).count() == 1  # setup, waiting for the kick


@pytest.mark.django_db(transaction=True)
def test_the_same_event_sent_concurrently_from_two_threads_starts_one_workflow(project: Project) -> None:
    body = json.dumps(checkout_event(project.id)).encode()
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def send() -> None:
        try:
            client = APIClient()
            barrier.wait(timeout=10)
            response = client.post(
                "/api/payments/webhook", data=body, content_type="application/json", **stripe_headers(body)
            )
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert statuses == [200, 200]
    assert WorkflowRun.objects.filter(project=project).count() == 1
    assert WebhookEvent.objects.count() == 1


def test_a_checkout_session_that_already_paid_another_order_is_rejected_as_reused(
    api: APIClient, project: Project
) -> None:
    post_stripe(api, checkout_event(project.id))  # the session pays `project`
    other = project_create(**{**BRIEF, "business_name": "Plomberie Durand"})
    replayed = checkout_event(other.id)  # the same checkout session, naming another project
    replayed["id"] = "evt_replayed_session"

    response = post_stripe(api, replayed)

    assert response.status_code == 200  # recorded; Stripe must not redeliver it
    body = response.json()
    assert body["status"] == EventStatus.REJECTED
    assert body["outcome"].startswith("session_reused:")
    assert "cs_test_a1demoB2c3D4e5F6g7H8i9J0kLmNoPqRsTuV" in body["outcome"]
    other.refresh_from_db()
    assert (other.status, other.checkout_session_id, other.paid_at) == (ProjectStatus.AWAITING_PAYMENT, None, None)
    assert not WorkflowRun.objects.filter(project=other).exists()
    assert WorkflowRun.objects.filter(project=project).count() == 1
    assert WebhookEvent.objects.get(external_id="evt_replayed_session").status == EventStatus.REJECTED


def test_a_payment_for_a_project_no_longer_awaiting_payment_is_rejected(api: APIClient, project: Project) -> None:
    Project.objects.filter(id=project.id).update(status=ProjectStatus.CANCELLED)

    response = post_stripe(api, checkout_event(project.id))

    assert response.status_code == 200
    assert response.json()["status"] == EventStatus.REJECTED
    assert response.json()["outcome"].startswith("not_awaiting_payment:")
    assert "cancelled" in response.json()["outcome"]
    project.refresh_from_db()
    assert (project.status, project.checkout_session_id) == (ProjectStatus.CANCELLED, None)
    assert not WorkflowRun.objects.exists()
