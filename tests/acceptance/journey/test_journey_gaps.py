"""Gaps an outside review of the customer's journey found (repros in the review's attack scripts), each fixed."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.test import Client

from orchestration.budget import Budget
from orchestration.execution import tick
from orchestration.models import Task
from orchestration.services import Actor, run_replay
from orders.models import CustomerEmail, Project, ProjectStatus, Refund, Revision, RevisionStatus
from orders.refunds import refund_request
from tests.acceptance.journey.conftest import paid_through_checkout, post_event, submit_order
from tests.support.fake_stripe import FakeStripe
from tests.support.orders import drive

pytestmark = pytest.mark.django_db


def customer_mails(project: Project) -> list[Any]:
    return [m for m in mail.outbox if project.contact_email in m.to]


def ticks(n: int = 10) -> None:
    for _ in range(n):
        tick(budget=Budget.seconds(10))


# -- a revision that fails for good --------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "words"),
    [("fr", "Votre site actuel reste en ligne"), ("en", "Your current site stays live")],
)
def test_a_failed_revision_emails_the_customer_once_in_their_language(
    client: Client, fake_stripe: FakeStripe, django_capture_on_commit_callbacks: Any, language: str, words: str
) -> None:
    project = drive(paid_through_checkout(client, fake_stripe, language=language, lang=language))
    assert project.status == ProjectStatus.DELIVERED
    # The delivered design is gone: the revision's design step fails for good.
    Task.objects.filter(run__project=project, step="design").update(output={})
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/status/{project.status_token}/changes", {"feedback": "Mettez la couleur en vert."})
        ticks()
    revision = Revision.objects.get(project=project)
    assert revision.status == RevisionStatus.FAILED
    [email] = customer_mails(project)
    assert words in email.body and project.reference in email.body
    assert ("399,00" if language == "fr" else "€399.00") in email.body
    assert "hello@studio.example" in email.body and project.site_url in email.body
    # Replayed by staff and failed again: still one email.
    with django_capture_on_commit_callbacks(execute=True):
        run_replay(run=revision.run, actor=Actor(label="test"))
        ticks()
    assert len(customer_mails(project)) == 1
    assert CustomerEmail.objects.filter(project=project, kind="revision_failed").count() == 1


# -- a partial refund made in Stripe's dashboard ------------------------------------------------


def partial_refund_event(fake: FakeStripe, project: Project, cents: int, event_id: str) -> dict[str, Any]:
    event = fake.charge_refunded_event(project.payment_intent_id)
    event["id"] = event_id
    event["data"]["object"].update(refunded=False, amount_refunded=cents)
    return event


def test_a_partial_refund_is_recorded_not_a_full_refund_and_staff_are_told(
    client: Client, fake_stripe: FakeStripe, django_capture_on_commit_callbacks: Any
) -> None:
    project = paid_through_checkout(client, fake_stripe)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        answer = post_event(client, partial_refund_event(fake_stripe, project, 10000, "evt_partial_1")).json()
        # Stripe's next event for a smaller, older figure (out of order) and a second delivery change nothing.
        post_event(client, partial_refund_event(fake_stripe, project, 5000, "evt_partial_old"))
        post_event(client, partial_refund_event(fake_stripe, project, 10000, "evt_partial_1"))
    assert answer["status"] == "processed" and "partly refunded" in answer["outcome"]
    project.refresh_from_db()
    assert project.status != ProjectStatus.REFUNDED and project.refunded_at is None
    assert project.refunded_cents == 10000
    assert not Refund.objects.filter(project=project).exists(), "the order's one full refund is still to be made"
    [staff] = [m for m in mail.outbox if "staff@studio.example" in m.to]
    assert project.reference in staff.subject and "€100.00" in staff.subject and "€399.00" in staff.subject
    assert not customer_mails(project)
    html = client.get(f"/status/{project.status_token}/").content.decode().replace("\N{NO-BREAK SPACE}", " ")
    assert "Déjà remboursé" in html and "100,00 €" in html

    # The rest refunded by staff: Stripe refunds the remainder; then the charge is refunded in full.
    refund = refund_request(project=project, source=Refund.Source.STAFF, label="staff:alice")
    assert refund.amount_cents == 29900
    full = fake_stripe.charge_refunded_event(project.payment_intent_id)
    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(client, full).json()["status"] == "processed"
    project.refresh_from_db()
    assert project.status == ProjectStatus.REFUNDED and project.refunded_cents == 39900
    assert len(customer_mails(project)) == 1


def test_a_partial_refund_of_no_order_of_ours_is_rejected(client: Client, fake_stripe: FakeStripe) -> None:
    event = {
        "id": "evt_partial_x",
        "object": "event",
        "type": "charge.refunded",
        "data": {"object": {"id": "ch_x", "payment_intent": "pi_nobody", "refunded": False, "amount_refunded": 100}},
    }
    answer = post_event(client, event).json()
    assert answer["status"] == "rejected" and "unknown_payment" in answer["outcome"]


# -- the offline demo: no STRIPE_API_KEY ----------------------------------------------------------


def test_without_a_stripe_key_the_demo_orders_through_its_own_checkout_page(
    client: Client, fake_stripe: FakeStripe, settings: Any
) -> None:
    """`make run` (DEBUG, so ORDER_DEMO_CHECKOUT) with no key: a newcomer can order and watch it built."""
    settings.STRIPE_API_KEY = ""
    settings.ORDER_DEMO_CHECKOUT = True
    page = client.get("/order/?lang=en")
    assert page.status_code == 200 and "Local demo: no real payment" in page.content.decode()
    response = submit_order(client, lang="en")
    assert response.status_code == 303 and "/order/demo-checkout/" in response["Location"]
    project = Project.objects.get()
    pay_page = client.get(response["Location"].removeprefix("http://testserver"))
    html = pay_page.content.decode().replace("\N{NO-BREAK SPACE}", " ")
    assert pay_page.status_code == 200 and "no card, no charge" in html and "€399.00" in html
    paid = client.post(response["Location"].removeprefix("http://testserver"), {"ui": "en"})
    assert paid.status_code == 303 and paid["Location"] == f"/status/{project.status_token}/"
    project.refresh_from_db()
    assert project.status in (ProjectStatus.PAID, ProjectStatus.IN_PROGRESS) and project.amount_cents == 39900
    assert client.post(response["Location"].removeprefix("http://testserver")).status_code == 303
    assert project.runs.count() == 1, "paying twice starts nothing twice"
    assert fake_stripe.requests == [], "the demo never calls Stripe"
    assert drive(project).status == ProjectStatus.DELIVERED


def test_without_a_stripe_key_and_no_demo_the_page_says_payments_are_off_and_creates_nothing(
    client: Client, fake_stripe: FakeStripe, settings: Any
) -> None:
    settings.STRIPE_API_KEY = ""
    settings.ORDER_DEMO_CHECKOUT = False
    page = client.get("/order/?lang=fr")
    assert page.status_code == 200 and "Les paiements sont désactivés" in page.content.decode()
    response = submit_order(client)
    assert response.status_code == 503 and "Les paiements sont désactivés" in response.content.decode()
    assert 'value="Boulangerie Martin"' in response.content.decode()
    assert not Project.objects.exists(), "no half-written order"
    assert client.get("/order/demo-checkout/anything/").status_code == 404


def test_the_demo_checkout_page_is_a_404_wherever_stripe_is_configured(
    client: Client, fake_stripe: FakeStripe, settings: Any
) -> None:
    settings.ORDER_DEMO_CHECKOUT = True  # a key is set (the journey's fake): Stripe is the only way to pay
    project = paid_through_checkout(client, fake_stripe)
    assert client.post(f"/order/demo-checkout/{project.status_token}/").status_code == 404


# -- bad input that PostgreSQL cannot store ------------------------------------------------------


def test_control_characters_in_a_change_request_are_dropped_not_a_500(client: Client, fake_stripe: FakeStripe) -> None:
    project = drive(paid_through_checkout(client, fake_stripe))
    response = client.post(f"/status/{project.status_token}/changes", {"feedback": "Couleur\x00 en vert\x07\r\nmerci"})
    assert response.status_code == 303
    assert Revision.objects.get(project=project).feedback == "Couleur en vert\nmerci"
    only_controls = client.post(f"/status/{project.status_token}/changes", {"feedback": "\x00\x01"})
    assert only_controls.status_code == 400


def test_an_email_address_longer_than_its_column_is_a_clear_400_with_nothing_created(
    client: Client, fake_stripe: FakeStripe
) -> None:
    response = submit_order(client, contact_email="a" * 300 + "@example.com")
    assert response.status_code == 400
    assert "Indiquez une adresse e-mail valide" in response.content.decode()
    assert not Project.objects.exists() and fake_stripe.requests == []


# -- a paid Checkout Session that starts no order ---------------------------------------------------


def staff_mails() -> list[Any]:
    return [m for m in mail.outbox if "staff@studio.example" in m.to]


def test_a_payment_of_the_price_its_session_asked_is_fulfilled_after_the_price_changed(
    client: Client, fake_stripe: FakeStripe, settings: Any
) -> None:
    submit_order(client)
    project = Project.objects.get()  # its session asks 399.00
    settings.ORDER_PRICE_CENTS = 44900  # a deploy raises the price while the customer is on Checkout
    answer = post_event(client, fake_stripe.completed_event(project.checkout_session_id)).json()
    assert answer["status"] == "processed", answer
    project.refresh_from_db()
    assert project.status in (ProjectStatus.PAID, ProjectStatus.IN_PROGRESS) and project.amount_cents == 39900


@pytest.mark.parametrize(("amount", "currency"), [(100, "eur"), (39900, "usd")])
def test_a_payment_refused_for_its_amount_tells_staff_at_once(
    client: Client, fake_stripe: FakeStripe, django_capture_on_commit_callbacks: Any, amount: int, currency: str
) -> None:
    submit_order(client)
    project = Project.objects.get()
    event = fake_stripe.completed_event(project.checkout_session_id)
    event["data"]["object"].update(amount_total=amount, currency=currency)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        answer = post_event(client, event).json()
        assert post_event(client, event).json()["duplicate"] is True
    assert answer["status"] == "rejected" and "wrong_amount" in answer["outcome"]
    project.refresh_from_db()
    assert project.status == ProjectStatus.AWAITING_PAYMENT and not project.runs.exists()
    [alert] = staff_mails()
    assert "Payment refused" in alert.subject and str(project.id) in alert.body and "wrong_amount" in alert.body
    assert not customer_mails(project)


def test_a_payment_for_an_abandoned_order_tells_staff(
    client: Client, fake_stripe: FakeStripe, django_capture_on_commit_callbacks: Any
) -> None:
    submit_order(client)
    project = Project.objects.get()
    post_event(client, fake_stripe.expired_event(project.checkout_session_id))
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        answer = post_event(client, fake_stripe.completed_event(project.checkout_session_id)).json()
    assert answer["status"] == "rejected" and "not_awaiting_payment" in answer["outcome"]
    [alert] = staff_mails()
    assert "The customer was charged" in alert.body and project.contact_email in alert.body


# -- the same form sent again -------------------------------------------------------------------


def test_the_same_form_corrected_after_back_is_the_corrected_order(client: Client, fake_stripe: FakeStripe) -> None:
    submit_order(client, city="Lyon")
    corrected = submit_order(client, city="Villeurbanne")  # Back, fix the city, submit: the same form token
    assert corrected.status_code == 303
    paid_for = Project.objects.get(checkout_url=corrected["Location"])
    assert paid_for.city == "Villeurbanne"
    assert fake_stripe.sessions[paid_for.checkout_session_id]["client_reference_id"] == str(paid_for.id)
    again = submit_order(client, city="Villeurbanne")  # and a double click of the corrected form
    assert again["Location"] == corrected["Location"] and Project.objects.count() == 2


def test_the_same_form_after_its_session_expired_gets_a_new_checkout(client: Client, fake_stripe: FakeStripe) -> None:
    first = submit_order(client)
    old = Project.objects.get(checkout_url=first["Location"])
    post_event(client, fake_stripe.expired_event(old.checkout_session_id))
    again = submit_order(client)
    assert again.status_code == 303 and again["Location"] != first["Location"]
    new = Project.objects.get(checkout_url=again["Location"])
    assert new.id != old.id and new.status == ProjectStatus.AWAITING_PAYMENT
    old.refresh_from_db()
    assert old.status == ProjectStatus.ABANDONED


def test_the_same_form_after_it_was_paid_goes_to_the_orders_status_page(
    client: Client, fake_stripe: FakeStripe
) -> None:
    project = paid_through_checkout(client, fake_stripe)
    again = submit_order(client)
    assert again.status_code == 303 and again["Location"] == f"/status/{project.status_token}/"
    assert Project.objects.count() == 1 and len(fake_stripe.sessions) == 1


def test_a_timed_out_submit_sent_again_in_the_other_language_can_still_be_paid(
    client: Client, fake_stripe: FakeStripe, settings: Any
) -> None:
    settings.STRIPE_TIMEOUT_SECONDS = 0.3
    fake_stripe.stall_next("/v1/checkout/sessions", 1.0)
    assert submit_order(client, lang="fr").status_code == 503
    settings.STRIPE_TIMEOUT_SECONDS = 3.0
    english = submit_order(client, lang="en")
    assert english.status_code == 303, "Stripe refused the first request's key with other parameters"
    assert (
        fake_stripe.sessions[Project.objects.get(checkout_url=english["Location"]).checkout_session_id]["locale"]
        == "en"
    )


def test_a_double_click_with_photos_is_still_one_order(client: Client, fake_stripe: FakeStripe) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.acceptance.journey.conftest import order_form
    from tests.acceptance.journey.test_order_page_details import photo_bytes

    def post() -> Any:
        photo = SimpleUploadedFile("shop.jpg", photo_bytes(), content_type="image/jpeg")
        return client.post("/order/?lang=fr", {**order_form(), "ui": "fr", "photos": [photo]})

    first, second = post(), post()
    assert first.status_code == second.status_code == 303 and first["Location"] == second["Location"]
    assert Project.objects.count() == 1 and len(fake_stripe.sessions) == 1


# -- the status page while a step waits --------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "words"), [("fr", "nouvelle tentative imminente"), ("en", "trying again shortly")]
)
def test_a_retry_past_its_time_still_waiting_for_a_worker_says_so_not_up_next(
    client: Client, fake_stripe: FakeStripe, language: str, words: str
) -> None:
    from datetime import timedelta

    from orchestration import clock as engine_clock
    from orchestration.models import TaskStatus

    project = paid_through_checkout(client, fake_stripe, language=language, lang=language)
    due = engine_clock.now() - timedelta(seconds=5)  # the retry is due; every worker is busy
    Task.objects.filter(run__project=project, step="setup").update(status=TaskStatus.QUEUED, attempt=1, run_after=due)
    feed = client.get(f"/status/{project.status_token}/feed.json").json()
    assert feed["steps"][0]["status"] == "retrying" and words in feed["steps"][0]["state_label"].lower()
    assert words in feed["now"].lower()


def test_a_checkpointed_or_replayed_step_is_not_shown_as_a_retry(client: Client, fake_stripe: FakeStripe) -> None:
    from datetime import timedelta

    from orchestration import clock as engine_clock
    from orchestration.models import TaskStatus

    project = paid_through_checkout(client, fake_stripe)
    soon = engine_clock.now() + timedelta(seconds=2)  # the database's clock a little ahead of this host's
    setup = Task.objects.filter(run__project=project, step="setup")
    setup.update(status=TaskStatus.QUEUED, attempt=1, resume=True, run_after=soon)  # a Continue: same attempt
    assert "tentative" not in client.get(f"/status/{project.status_token}/feed.json").json()["steps"][0]["state_label"]
    setup.update(resume=False, attempt_base=1)  # a staff replay: a fresh set of attempts, none failed yet
    assert "tentative" not in client.get(f"/status/{project.status_token}/feed.json").json()["steps"][0]["state_label"]


def test_the_order_form_stores_the_brief_cleaned_as_the_api_does(client: Client, fake_stripe: FakeStripe) -> None:
    response = submit_order(
        client,
        business_name="Boulangerie \u202eMartin\ufdd0",  # a bidi override and a noncharacter
        city="Ly\x07on",
        description="Pain\x1b[31m au levain",
    )
    assert response.status_code == 303
    project = Project.objects.get()
    assert (project.business_name, project.city) == ("Boulangerie Martin", "Lyon")
    assert project.description == "Pain[31m au levain"
