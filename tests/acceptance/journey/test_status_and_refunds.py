"""The status page tells the truth in the order's language; a failed order, a refund and its emails."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.urls import reverse

from orchestration import clock as engine_clock
from orchestration.budget import Budget
from orchestration.execution import tick
from orchestration.models import RunStatus, Task, TaskStatus
from orchestration.services import Actor, run_cancel
from orders.exceptions import RefundNotConfirmed
from orders.models import CustomerEmail, Project, ProjectStatus, Refund, RefundStatus
from orders.refunds import refund_request
from orders.selectors import project_latest_run
from tests.acceptance.journey.conftest import paid_through_checkout, post_event
from tests.support.fake_stripe import FakeStripe
from tests.support.orders import drive

pytestmark = pytest.mark.django_db


def customer_mails(project: Project) -> list[Any]:
    return [m for m in mail.outbox if project.contact_email in m.to]


def staff_mails() -> list[Any]:
    return [m for m in mail.outbox if "staff@studio.example" in m.to]


def fail_for_good(project: Project) -> None:
    """A brief that setup refuses: the step fails permanently, and with it the order."""
    Project.objects.filter(id=project.id).update(brand_color="red")


@pytest.fixture
def staff_client(superuser: User) -> tuple[Client, User]:
    client = Client()
    client.force_login(superuser)
    return client, superuser


# -- while it runs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "words"),
    [("fr", "nouvelle tentative à {time}"), ("en", "trying again at {time}")],
)
def test_a_step_waiting_for_its_retry_says_when_in_the_orders_language(
    client: Client, fake_stripe: FakeStripe, language: str, words: str
) -> None:
    project = paid_through_checkout(client, fake_stripe, language=language, lang=language)
    later = engine_clock.now() + timedelta(minutes=3)
    Task.objects.filter(run__project=project, step="setup").update(status=TaskStatus.QUEUED, attempt=1, run_after=later)
    from orders.status import local_time

    body = client.get(f"/status/{project.status_token}/feed.json").json()
    setup = body["steps"][0]
    assert setup["status"] == "retrying" and setup["retry_at"] == local_time(later)
    assert (
        words.format(time=local_time(later)) in body["now"].lower()
        or words.format(time=local_time(later)) in setup["state_label"].lower()
    )
    html = client.get(f"/status/{project.status_token}/").content.decode()
    assert f'<html lang="{language}">' in html
    assert local_time(later) in html


def test_the_status_page_speaks_french_throughout_for_a_french_order(client: Client, fake_stripe: FakeStripe) -> None:
    project = paid_through_checkout(client, fake_stripe)
    html = client.get(f"/status/{project.status_token}/").content.decode()
    for english in ("In progress", "Failed", "Delivered", "Up next", "Payment received"):
        assert english not in html, english
    assert "Commande" in html and project.reference in html


# -- a failed order, then a refund -------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("fr", "Notre équipe a été prévenue et vous écrira à"),
        ("en", "Our team has been alerted and will write to you at"),
    ],
)
def test_a_failed_order_says_so_in_its_language_with_one_customer_email_and_one_staff_alert(
    client: Client, fake_stripe: FakeStripe, django_capture_on_commit_callbacks: Any, language: str, words: str
) -> None:
    project = paid_through_checkout(client, fake_stripe, language=language, lang=language)
    fail_for_good(project)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        drive(project)
    assert project.status == ProjectStatus.FAILED
    html = client.get(f"/status/{project.status_token}/").content.decode()
    assert words in html.replace("&#x27;", "'")
    assert "hello@studio.example" in html and project.contact_email in html
    [customer] = customer_mails(project)
    assert project.reference in customer.body and ("399,00" in customer.body or "€399.00" in customer.body)
    assert "hello@studio.example" in customer.body
    assert len(staff_mails()) == 1
    # Replayed and failed again: still one email to the customer.
    run = project_latest_run(project)
    from orchestration.services import run_replay

    with django_capture_on_commit_callbacks(execute=True):
        run_replay(run=run, actor=Actor(label="test"))
        drive(project)
    assert len(customer_mails(project)) == 1
    assert CustomerEmail.objects.filter(project=project, kind="order_failed").count() == 1


def test_staff_refund_then_charge_refunded_marks_the_order_refunded_with_one_email(
    client: Client,
    fake_stripe: FakeStripe,
    staff_client: tuple[Client, User],
    django_capture_on_commit_callbacks: Any,
) -> None:
    project = paid_through_checkout(client, fake_stripe)
    fail_for_good(project)
    with django_capture_on_commit_callbacks(execute=True):
        drive(project)
    admin, user = staff_client
    changelist = reverse("admin:orders_project_changelist")
    form = {"action": "refund_orders", "_selected_action": [str(project.pk)]}
    confirm = admin.post(changelist, form)
    assert confirm.status_code == 200 and b"This will refund 1 order" in confirm.content
    assert fake_stripe.calls("POST", "/v1/refunds") == [], "nothing is refunded before staff confirm"
    done = admin.post(changelist, {**form, "confirm": "yes", "reason": "failed order"})
    assert done.status_code == 302
    [call] = fake_stripe.calls("POST", "/v1/refunds")
    assert call["params"]["payment_intent"] == project.payment_intent_id
    assert call["headers"]["idempotency-key"] == f"refund:{project.id}"
    refund = Refund.objects.get(project=project)
    assert refund.requested_by == user and refund.source == Refund.Source.STAFF and refund.reason == "failed order"
    assert refund.status == RefundStatus.SUCCEEDED and refund.stripe_refund_id.startswith("re_")
    project.refresh_from_db()
    assert project.status == ProjectStatus.FAILED, "refunded only once Stripe says so"

    mail.outbox.clear()
    event = fake_stripe.charge_refunded_event(project.payment_intent_id)
    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(client, event).json()["status"] == "processed"
        assert post_event(client, event).json()["duplicate"] is True
        event["id"] = "evt_refunded_again"  # Stripe sends a second, distinct event for the same refund
        assert "already refunded" in post_event(client, event).json()["outcome"]
    project.refresh_from_db()
    assert project.status == ProjectStatus.REFUNDED and project.refunded_at is not None
    [email] = customer_mails(project)
    assert "399,00" in email.body and project.reference in email.body and "rembours" in email.subject.lower()
    html = client.get(f"/status/{project.status_token}/").content.decode()
    assert "Cette commande a été remboursée" in html
    # The action again: nothing twice.
    admin.post(changelist, {**form, "confirm": "yes"})
    assert len(fake_stripe.calls("POST", "/v1/refunds")) == 1


def test_a_refund_retried_after_a_timeout_is_the_same_refund(
    client: Client, fake_stripe: FakeStripe, settings: Any
) -> None:
    project = paid_through_checkout(client, fake_stripe)
    settings.STRIPE_TIMEOUT_SECONDS = 0.3
    fake_stripe.stall_next("/v1/refunds", 1.0)
    with pytest.raises(RefundNotConfirmed):
        refund_request(project=project, source=Refund.Source.STAFF, label="staff:alice")
    refund = Refund.objects.get(project=project)
    assert refund.status == RefundStatus.REQUESTED and "did not answer" in refund.last_error
    settings.STRIPE_TIMEOUT_SECONDS = 3.0
    refund = refund_request(project=project, source=Refund.Source.STAFF, label="staff:alice")
    assert refund.status == RefundStatus.SUCCEEDED and refund.tries == 2
    calls = fake_stripe.calls("POST", "/v1/refunds")
    assert len(calls) == 2 and {c["headers"]["idempotency-key"] for c in calls} == {f"refund:{project.id}"}
    assert len(fake_stripe.refunds) == 1, "Stripe made one refund for two requests"
    assert fake_stripe.errors == []


def test_a_charge_refunded_in_stripes_dashboard_refunds_the_order_and_stops_its_run(
    client: Client, fake_stripe: FakeStripe, django_capture_on_commit_callbacks: Any
) -> None:
    project = paid_through_checkout(client, fake_stripe)
    with django_capture_on_commit_callbacks(execute=True):
        post_event(client, fake_stripe.charge_refunded_event(project.payment_intent_id))
    project.refresh_from_db()
    assert project.status == ProjectStatus.REFUNDED
    assert project_latest_run(project).status == RunStatus.CANCELLED
    assert not Task.objects.filter(action="core-platform.refund").exists(), "no refund-on-cancel for a refund"
    refund = Refund.objects.get(project=project)
    assert refund.source == Refund.Source.STRIPE and refund.status == RefundStatus.SUCCEEDED
    [email] = customer_mails(project)  # no step ran (no receipt yet): the one email says "refunded"
    assert email.subject.startswith("Remboursement")
    tick(budget=Budget.seconds(10))
    project.refresh_from_db()
    assert project.status == ProjectStatus.REFUNDED, "a cancelled run never reopens a refunded order"


def test_staff_cancelling_a_paid_undelivered_order_refunds_it_recorded_with_them(
    client: Client, fake_stripe: FakeStripe, staff_client: tuple[Client, User]
) -> None:
    project = paid_through_checkout(client, fake_stripe)
    _, user = staff_client
    run_cancel(run=project_latest_run(project), actor=Actor.of_user(user), reason="customer asked")
    tick(budget=Budget.seconds(10))
    refund = Refund.objects.get(project=project)
    assert refund.source == Refund.Source.CANCEL and refund.requested_by == user
    assert refund.status == RefundStatus.SUCCEEDED and len(fake_stripe.refunds) == 1


def test_cancelling_is_no_refund_when_the_setting_is_off(
    client: Client, fake_stripe: FakeStripe, settings: Any
) -> None:
    settings.ORDER_REFUND_ON_CANCEL = False
    project = paid_through_checkout(client, fake_stripe)
    run_cancel(run=project_latest_run(project), actor=Actor(label="test"))
    tick(budget=Budget.seconds(10))
    assert not Refund.objects.exists() and fake_stripe.refunds == {}


# -- delivered -------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["fr", "en"])
def test_a_delivered_order_shows_its_receipt_campaign_terms_and_site(
    client: Client, fake_stripe: FakeStripe, django_capture_on_commit_callbacks: Any, language: str
) -> None:
    project = paid_through_checkout(client, fake_stripe, language=language, lang=language)
    mail.outbox.clear()
    drive(project)
    assert project.status == ProjectStatus.DELIVERED
    html = client.get(f"/status/{project.status_token}/").content.decode().replace("\N{NO-BREAK SPACE}", " ")
    receipt = re.search(r'<section class="box" id="receipt">(.*?)</section>', html, re.S).group(1)
    assert project.reference in receipt
    assert ("399,00 €" if language == "fr" else "€399.00") in receipt
    campaign = re.search(r'<section class="box" id="campaign">(.*?)</section>', html, re.S).group(1)
    if language == "fr":
        assert "par jour" in campaign.lower() and "Par mois" in campaign and "directement à Google" in campaign
        assert "créée en pause" in campaign
    else:
        assert "per day" in campaign.lower() and "Per month" in campaign and "to Google directly" in campaign
        assert "created paused" in campaign
    assert f'href="{project.site_url}"' in html
    assert 'id="changes-form"' in html
    payment, live = customer_mails(project)
    for email in (payment, live):
        assert project.reference in email.body
        assert ("399,00" if language == "fr" else "€399.00") in email.body
    assert ("Reçu" if language == "fr" else "Receipt") in payment.body
    assert ("par jour" if language == "fr" else "a day") in live.body
