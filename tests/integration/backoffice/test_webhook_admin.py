"""Reprocessing webhook events from the admin: confirmed first, recorded with the staff user
(OperatorAction and Django's LogEntry), reported per event, refused unless reprocessable."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from gateway.models import EventSource, EventStatus, WebhookEvent
from orchestration import clock
from orchestration.models import OperatorAction, WorkflowRun
from orders.models import Project, ProjectStatus
from orders.services import project_create
from tests.integration.backoffice.test_admin_actions import messages_of, post_action

EVENTS = reverse("admin:gateway_webhookevent_changelist")
FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "stripe_checkout_session_completed.json"


def stored_event(status: str, *, project_id: Any, external_id: str = "evt_1", outcome: str = "") -> WebhookEvent:
    """A Stripe payment event as the inbox keeps it (its signature was checked on arrival)."""
    payload = json.loads(FIXTURE.read_text())
    payload["id"] = external_id
    payload["data"]["object"]["client_reference_id"] = str(project_id)
    return WebhookEvent.objects.create(
        source=EventSource.STRIPE,
        external_id=external_id,
        type=payload["type"],
        payload=payload,
        signature_ok=True,
        status=status,
        outcome=outcome,
        received_at=clock.now(),
        attempts=1,
    )


@pytest.fixture
def rejected_then_fixed(db) -> tuple[WebhookEvent, uuid.UUID]:
    """A payment rejected for naming no known project; the project exists now."""
    project_id = uuid.uuid4()
    event = stored_event(EventStatus.REJECTED, project_id=project_id, outcome="unknown_project: No project")
    project = project_create(business_name="Fleurs", contact_email="fleurs@example.com")
    Project.objects.filter(pk=project.pk).update(id=project_id)
    return event, project_id


def test_reprocess_shows_how_many_events_it_will_touch_and_changes_nothing_yet(
    staff_client, rejected_then_fixed, db_rows
):
    event, _ = rejected_then_fixed
    processed = stored_event(EventStatus.PROCESSED, project_id=uuid.uuid4(), external_id="evt_done")
    before = db_rows()
    page = post_action(staff_client, EVENTS, "reprocess", [event.pk, processed.pk]).content.decode()
    assert "This will touch 1 webhook event." in page
    assert "1 will be refused and left unchanged" in page
    assert "apply checkout.session.completed again (attempt 2)" in page
    assert "The event is processed; only ignored, rejected, failed events can be reprocessed." in page
    assert db_rows() == before


def test_confirmed_reprocess_applies_the_event_and_records_the_staff_user_twice(
    superuser, staff_client, rejected_then_fixed
):
    event, project_id = rejected_then_fixed
    response = post_action(staff_client, EVENTS, "reprocess", [event.pk], confirm="yes")
    notes = messages_of(response)
    assert any(f"Webhook event {event.pk}: Reprocessed (rejected -> processed)" in m for m in notes)
    assert any("Reprocess the selected events: done for 1 of 1" in m for m in notes)
    event.refresh_from_db()
    assert (event.status, event.attempts) == (EventStatus.PROCESSED, 2)
    assert WorkflowRun.objects.filter(subject_id=project_id).count() == 1
    assert Project.objects.get(pk=project_id).status in (ProjectStatus.PAID, ProjectStatus.IN_PROGRESS)
    act = OperatorAction.objects.get()
    assert (act.actor, act.verb, act.detail["event"]) == (superuser, OperatorAction.Verb.REPROCESS_EVENT, event.pk)
    entry = LogEntry.objects.get()
    assert (entry.user, entry.object_id) == (superuser, str(event.pk))
    assert "rejected -> processed" in entry.get_change_message()


def test_an_event_rejected_again_is_reported_as_a_warning_not_hidden_in_the_summary(staff_client, db):
    event = stored_event(EventStatus.REJECTED, project_id=uuid.uuid4())  # the project still does not exist
    response = post_action(staff_client, EVENTS, "reprocess", [event.pk], confirm="yes")
    warning = next(m for m in response.context["messages"] if "rejected -> rejected" in str(m))
    assert warning.level_tag == "warning" and "unknown_project" in str(warning)
    assert OperatorAction.objects.count() == 1 and LogEntry.objects.count() == 1


def test_reprocessing_an_event_already_processed_is_refused_and_changes_nothing(staff_client, db, db_rows):
    processed = stored_event(EventStatus.PROCESSED, project_id=uuid.uuid4(), outcome="Project paid")
    before = db_rows()
    response = post_action(staff_client, EVENTS, "reprocess", [processed.pk], confirm="yes")
    assert messages_of(response) == [
        f"Webhook event {processed.pk}: refused, nothing changed. Event {processed.pk} (stripe evt_1) is "
        "processed; only ignored, rejected, failed events can be reprocessed"
    ]
    assert db_rows() == before


def test_the_reprocess_action_is_not_open_to_non_staff(client, outsider, rejected_then_fixed, db_rows):
    event, _ = rejected_then_fixed
    client.force_login(outsider)
    before = db_rows()
    response = client.post(EVENTS, {"action": "reprocess", "_selected_action": [event.pk], "confirm": "yes"})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert db_rows() == before
