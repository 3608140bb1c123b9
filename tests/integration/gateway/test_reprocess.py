"""Reprocessing a stored webhook event: an act recorded with its user, refused unless the
event is ignored, rejected or failed."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from gateway.models import EventStatus, WebhookEvent
from gateway.services import webhook_reprocess
from orchestration.exceptions import IllegalTransition
from orchestration.models import OperatorAction, WorkflowRun
from orchestration.services import Actor
from orders.models import Project
from orders.services import project_create
from tests.integration.gateway.conftest import BRIEF, checkout_event, post_stripe

pytestmark = pytest.mark.django_db


def test_a_rejected_payment_is_fulfilled_when_reprocessed_after_the_cause_is_fixed(api: APIClient, staff: User) -> None:
    project_id = uuid.uuid4()
    post_stripe(api, checkout_event(project_id))  # the project does not exist yet
    event = WebhookEvent.objects.get()
    assert event.status == EventStatus.REJECTED
    Project.objects.filter(id=project_create(**BRIEF).id).update(id=project_id)

    event = webhook_reprocess(event=event, actor=Actor.of_user(staff))

    assert (event.status, event.attempts) == (EventStatus.PROCESSED, 2)
    assert WorkflowRun.objects.filter(subject_id=project_id).count() == 1
    act = OperatorAction.objects.get()
    assert (act.actor, act.verb) == (staff, OperatorAction.Verb.REPROCESS_EVENT)
    assert act.detail["from"] == "rejected" and act.detail["to"] == "processed"


def test_a_processed_event_is_not_reprocessed(api: APIClient, project: Project, staff: User) -> None:
    post_stripe(api, checkout_event(project.id))
    event = WebhookEvent.objects.get()

    with pytest.raises(IllegalTransition, match="only ignored, rejected, failed events can be reprocessed"):
        webhook_reprocess(event=event, actor=Actor.of_user(staff))

    assert not OperatorAction.objects.exists()
    assert WebhookEvent.objects.get().attempts == 1


def test_the_admin_action_shows_its_plan_then_reprocesses_and_reports_refusals(
    api: APIClient, project: Project, staff: User
) -> None:
    post_stripe(api, checkout_event(project.id, amount_total=100))  # rejected: wrong amount
    good = checkout_event(project.id)
    good["id"] = "evt_good"
    post_stripe(api, good)  # processed
    browser = Client()
    browser.force_login(User.objects.create_superuser("root", "root@studio.example", "pw"))
    selected = {"action": "reprocess", "_selected_action": [e.id for e in WebhookEvent.objects.all()]}

    plan = browser.post("/admin/gateway/webhookevent/", selected)

    assert plan.status_code == 200
    page = plan.content.decode()
    assert "This will touch 1 webhook event" in page and "1 will be refused" in page
    assert "only ignored, rejected, failed events can be reprocessed" in page
    assert not OperatorAction.objects.exists()  # the plan changes nothing

    response = browser.post("/admin/gateway/webhookevent/", {**selected, "confirm": "yes"}, follow=True)

    assert response.status_code == 200
    text = response.content.decode()
    assert "refused, nothing changed" in text  # the processed one
    assert "wrong_amount" in text  # the rejected one, rejected again: still the wrong amount
    assert OperatorAction.objects.filter(verb=OperatorAction.Verb.REPROCESS_EVENT).count() == 1


def test_the_inbox_admin_pages_render(project: Project, api: APIClient, admin_client: Any) -> None:
    post_stripe(api, checkout_event(project.id))
    event = WebhookEvent.objects.get()

    assert admin_client.get("/admin/gateway/webhookevent/").status_code == 200
    page = admin_client.get(f"/admin/gateway/webhookevent/{event.id}/change/")
    assert page.status_code == 200 and "cs_test_a1demo" in page.content.decode()
