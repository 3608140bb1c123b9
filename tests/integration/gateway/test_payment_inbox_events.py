"""The payment inbox (gateway/services.py) past the paid checkout: the order events Stripe sends
later (an expired or failed checkout, a refund), what a row records of each, and the redelivery of
a row that failed. Called as the webhook view calls it, once the signature is verified."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.utils import timezone

from gateway.models import EventSource, EventStatus, WebhookEvent
from gateway.services import stripe_event_receive
from orders.models import Project, ProjectStatus
from tests.integration.gateway.conftest import checkout_event

pytestmark = pytest.mark.django_db


def expired_event(project: Project, **session: Any) -> dict[str, Any]:
    obj = {"id": "cs_expired_1", "object": "checkout.session", "client_reference_id": str(project.id), **session}
    return {"id": "evt_expired_1", "type": "checkout.session.expired", "data": {"object": obj}}


def test_an_expired_checkout_closes_its_order_and_the_row_says_so(project: Project, clock: Any) -> None:
    row, duplicate = stripe_event_receive(event=expired_event(project))

    row.refresh_from_db()
    assert not duplicate
    assert (row.status, row.attempts, row.processed_at) == (EventStatus.PROCESSED, 1, clock.now())
    assert row.outcome == f"Project {project.id} abandoned (checkout.session.expired)."
    project.refresh_from_db()
    assert project.status == ProjectStatus.ABANDONED


def test_an_order_event_naming_no_order_is_rejected_saying_why(project: Project, clock: Any) -> None:
    row, _ = stripe_event_receive(event=expired_event(project, client_reference_id="nope"))

    row.refresh_from_db()
    assert (row.status, row.attempts, row.processed_at) == (EventStatus.REJECTED, 1, clock.now())
    assert row.outcome == "unknown_project: client_reference_id 'nope'"


@pytest.mark.parametrize("where", ["data", "object"])
def test_an_order_event_whose_body_is_not_an_object_is_read_as_empty(project: Project, where: str) -> None:
    """A verified event is Stripe's, but its shape is not trusted: no 500, a rejection that says so."""
    event = expired_event(project)
    if where == "data":
        event["data"] = "not an object"
    else:
        event["data"]["object"] = ["not", "an", "object"]

    row, _ = stripe_event_receive(event=event)

    assert (row.status, row.outcome) == (EventStatus.REJECTED, "unknown_project: client_reference_id None")


def test_a_rejection_too_long_for_the_row_is_cut_to_5000_characters(project: Project) -> None:
    row, _ = stripe_event_receive(event=expired_event(project, client_reference_id="x" * 6000))

    row.refresh_from_db()
    assert row.outcome == ("unknown_project: client_reference_id '" + "x" * 6000)[:5000]


@pytest.mark.parametrize(
    ("sent", "stored"), [("pi_3Qx", "pi_3Qx"), (None, ""), ("p" * 300, "p" * 255)], ids=["given", "none", "too-long"]
)
def test_a_paid_order_keeps_its_payment_intent_to_refund_against(project: Project, sent: Any, stored: str) -> None:
    stripe_event_receive(event=checkout_event(project.id, payment_intent=sent))

    project.refresh_from_db()
    assert project.payment_intent_id == stored


def test_a_checkout_session_id_too_long_for_the_order_is_cut_to_its_column(project: Project) -> None:
    stripe_event_receive(event=checkout_event(project.id, id="cs_" + "s" * 300))

    project.refresh_from_db()
    assert project.checkout_session_id == ("cs_" + "s" * 300)[:255]


def test_a_redelivered_event_that_had_failed_is_applied_and_counts_its_second_attempt(project: Project) -> None:
    event = checkout_event(project.id)
    WebhookEvent.objects.create(
        source=EventSource.STRIPE,
        external_id=event["id"],
        type=event["type"],
        payload=event,
        signature_ok=True,
        status=EventStatus.FAILED,
        attempts=1,
        received_at=timezone.now(),
    )

    row, duplicate = stripe_event_receive(event=event)

    row.refresh_from_db()
    assert not duplicate
    assert (row.status, row.attempts) == (EventStatus.PROCESSED, 2)


def test_a_redelivery_finds_its_own_row_among_other_sources_and_other_events(project: Project) -> None:
    event = checkout_event(project.id)
    other_source = WebhookEvent.objects.create(
        source=EventSource.AGENT,
        external_id=event["id"],
        type="task.completed",
        payload={},
        signature_ok=True,
        received_at=timezone.now(),
    )
    first, _ = stripe_event_receive(event=event)
    stripe_event_receive(event={**expired_event(project), "id": "evt_other"})

    again, duplicate = stripe_event_receive(event=event)

    assert duplicate and again.id == first.id != other_source.id


def test_each_applied_event_is_logged_with_what_it_was_and_what_it_did(
    project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="gateway"):
        row, _ = stripe_event_receive(event=expired_event(project))

    [record] = [r for r in caplog.records if r.name == "gateway" and r.getMessage() == "webhook event applied"]
    assert (record.action, record.source, record.event_id, record.type, record.status) == (
        "webhook_event",
        "stripe",
        row.external_id,
        "checkout.session.expired",
        EventStatus.PROCESSED,
    )
