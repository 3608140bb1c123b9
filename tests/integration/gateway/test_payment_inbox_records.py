"""What the payment inbox keeps of each verified Stripe event (gateway/services.py): the row as
received, and an outcome that says exactly what the event did or why it did nothing."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from gateway.models import EventStatus, WebhookEvent
from orchestration.models import WorkflowRun
from orders.models import Project, ProjectStatus
from orders.services import project_create
from tests.integration.gateway.conftest import BRIEF, checkout_event, post_stripe

pytestmark = pytest.mark.django_db


def test_a_paid_event_is_stored_as_received_and_says_which_run_it_started(
    api: APIClient, project: Project, clock: Any
) -> None:
    event = checkout_event(project.id)

    response = post_stripe(api, event)

    run = WorkflowRun.objects.get(project=project)
    row = WebhookEvent.objects.get()
    assert (row.source, row.external_id, row.type) == ("stripe", event["id"], "checkout.session.completed")
    assert row.payload == event and row.signature_ok is True
    assert (row.received_at, row.processed_at, row.attempts) == (clock.now(), clock.now(), 1)
    assert row.outcome == f"Project {project.id} paid; workflow run {run.id} started."
    assert response.json() == {"received": True, "duplicate": False, "status": "processed", "outcome": row.outcome}
    project.refresh_from_db()
    assert project.checkout_session_id == event["data"]["object"]["id"]
    assert (project.amount_cents, project.currency) == (39900, "eur")


def test_an_unhandled_event_type_is_ignored_naming_the_type(api: APIClient, project: Project) -> None:
    event = checkout_event(project.id)
    event["type"] = "customer.created"

    assert post_stripe(api, event).json()["outcome"] == "Event type customer.created is not handled."


def test_a_very_long_event_type_is_stored_cut_to_the_column(api: APIClient, project: Project) -> None:
    event = checkout_event(project.id)
    event["type"] = "t" * 150

    post_stripe(api, event)

    assert WebhookEvent.objects.get().type == "t" * 100


def test_an_unpaid_checkout_is_ignored_until_the_async_payment_succeeds(api: APIClient, project: Project) -> None:
    outcome = post_stripe(api, checkout_event(project.id, payment_status="unpaid")).json()["outcome"]

    assert outcome == (
        "Payment not completed (payment_status='unpaid'); checkout.session.async_payment_succeeded will fulfil it."
    )


@pytest.mark.parametrize("reference", ["not-a-uuid", None])
def test_a_checkout_naming_no_order_is_rejected_quoting_the_reference(
    api: APIClient, project: Project, reference: Any
) -> None:
    outcome = post_stripe(api, checkout_event(project.id, client_reference_id=reference)).json()["outcome"]

    assert outcome == f"unknown_project: client_reference_id {reference!r}"


def test_a_checkout_naming_an_order_that_does_not_exist_is_rejected_by_the_order_service(
    api: APIClient, project: Project
) -> None:
    missing = "8b0f7d2c-7d1e-4a8e-9d0c-0f5a3c1b2e4d"

    outcome = post_stripe(api, checkout_event(project.id, client_reference_id=missing)).json()["outcome"]

    assert outcome == f"unknown_project: No project {missing}"


@pytest.mark.parametrize(
    ("session", "paid"),
    [({"amount_total": 100}, "100 'eur'"), ({"currency": "usd"}, "39900 'usd'"), ({"currency": None}, "39900 ''")],
)
def test_a_wrong_amount_is_rejected_naming_what_was_paid_and_the_price(
    api: APIClient, project: Project, session: dict[str, Any], paid: str
) -> None:
    outcome = post_stripe(api, checkout_event(project.id, **session)).json()["outcome"]

    assert outcome == f"wrong_amount: paid {paid}, the price is 39900 'eur'"
    assert not WorkflowRun.objects.exists()


def test_the_currency_is_compared_whatever_its_case(api: APIClient, project: Project) -> None:
    response = post_stripe(api, checkout_event(project.id, currency="EUR"))

    assert response.json()["status"] == EventStatus.PROCESSED
    project.refresh_from_db()
    assert project.currency == "eur"


def test_a_session_without_an_id_is_recorded_under_the_events_id(api: APIClient, project: Project) -> None:
    event = checkout_event(project.id, id=None)

    post_stripe(api, event)

    project.refresh_from_db()
    assert project.checkout_session_id == event["id"]


def test_a_payment_for_an_order_no_longer_awaiting_it_is_rejected_with_the_services_reason(
    api: APIClient, project: Project
) -> None:
    Project.objects.filter(id=project.id).update(status=ProjectStatus.CANCELLED)

    outcome = post_stripe(api, checkout_event(project.id)).json()["outcome"]

    assert outcome == f"not_awaiting_payment: Project {project.id} is cancelled"


def test_a_checkout_session_that_paid_another_order_is_rejected_naming_the_session(
    api: APIClient, project: Project
) -> None:
    post_stripe(api, checkout_event(project.id))
    other = project_create(**BRIEF)
    replayed = checkout_event(other.id)
    replayed["id"] = "evt_replayed"

    outcome = post_stripe(api, replayed).json()["outcome"]

    session = replayed["data"]["object"]["id"]
    assert outcome == f"session_reused: checkout session {session} paid another order"
    other.refresh_from_db()
    assert other.status == ProjectStatus.AWAITING_PAYMENT


def test_a_second_payment_event_for_a_paid_order_names_the_run_it_already_has(api: APIClient, project: Project) -> None:
    post_stripe(api, checkout_event(project.id))
    run = WorkflowRun.objects.get(project=project)
    later = checkout_event(project.id)
    later["id"], later["type"] = "evt_async_2", "checkout.session.async_payment_succeeded"

    outcome = post_stripe(api, later).json()["outcome"]

    assert outcome == f"Already fulfilled: project {project.id} has run {run.id}."
