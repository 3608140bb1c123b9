"""A Stripe event delivered more than once is applied once: counted in workflow runs started and
in the inbox row's processing, not only in the response's `duplicate` flag (issue 19)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from gateway.models import EventStatus, WebhookEvent
from orchestration.models import WorkflowRun
from orders.models import Project, ProjectStatus
from tests.integration.gateway.conftest import checkout_event, post_stripe

pytestmark = pytest.mark.django_db


def test_a_redelivered_event_starts_no_workflow_even_once_it_would_now_pay_the_order(
    api: APIClient, project: Project
) -> None:
    """Catches the inbox's duplicate check removed: the first delivery was refused (the order was
    not awaiting payment), the order has since come back to awaiting payment, and the very same
    event delivered again is still a duplicate: no workflow, the first outcome kept."""
    Project.objects.filter(id=project.id).update(status=ProjectStatus.CANCELLED)
    first = post_stripe(api, checkout_event(project.id))
    assert first.json()["status"] == EventStatus.REJECTED
    Project.objects.filter(id=project.id).update(status=ProjectStatus.AWAITING_PAYMENT)

    again = post_stripe(api, checkout_event(project.id))

    assert again.status_code == 200
    assert WorkflowRun.objects.count() == 0, "the redelivery started a workflow"
    assert again.json()["duplicate"] is True
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts, event.outcome) == (EventStatus.REJECTED, 1, first.json()["outcome"])
    project.refresh_from_db()
    assert project.status == ProjectStatus.AWAITING_PAYMENT


def test_a_paid_event_delivered_three_times_starts_one_workflow_and_is_processed_once(
    api: APIClient, project: Project
) -> None:
    responses = [post_stripe(api, checkout_event(project.id)) for _ in range(3)]

    assert WorkflowRun.objects.filter(project=project).count() == 1
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts) == (EventStatus.PROCESSED, 1), "a duplicate was applied again"
    assert [r.json()["duplicate"] for r in responses] == [False, True, True]
    assert event.outcome == responses[0].json()["outcome"] and "started" in event.outcome


@pytest.mark.django_db(transaction=True)
def test_the_same_event_from_two_threads_starts_one_workflow_and_is_applied_once(project: Project) -> None:
    """The concurrent duplicate: one delivery applies the event, the other waits for its commit
    and is a duplicate; one run, one processing of the inbox row."""
    barrier = threading.Barrier(2)
    duplicates: list[bool] = []

    def send() -> None:
        try:
            barrier.wait(timeout=10)
            duplicates.append(post_stripe(APIClient(), checkout_event(project.id)).json()["duplicate"])
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(duplicates) == [False, True]
    assert WorkflowRun.objects.filter(project=project).count() == 1
    assert WebhookEvent.objects.get().attempts == 1
