"""The order page: the brief in French or English, validated like the API, paid through Stripe Checkout."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from gateway.models import WebhookEvent
from orchestration.models import WorkflowRun
from orders.models import Project, ProjectStatus
from tests.acceptance.journey.conftest import FORM, order_form, paid_through_checkout, post_event, submit_order
from tests.support.briefs import FRENCH_LEGAL
from tests.support.fake_stripe import FakeStripe

pytestmark = pytest.mark.django_db


# -- the form ----------------------------------------------------------------------------------


def test_the_page_speaks_the_browsers_language_unless_the_visitor_chooses(client: Client) -> None:
    english = client.get("/order/", HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9,fr;q=0.5")
    assert '<html lang="en">' in english.content.decode() and "Order your website" in english.content.decode()
    french = client.get("/order/", HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9")
    assert '<html lang="fr">' in french.content.decode() and "Commander votre site" in french.content.decode()
    chosen = client.get("/order/?lang=fr", HTTP_ACCEPT_LANGUAGE="en")
    assert "Commander votre site" in chosen.content.decode()
    assert (
        client.get("/order/", HTTP_ACCEPT_LANGUAGE="de")
        .content.decode()
        .startswith('<!doctype html>\n<html lang="fr">')
    )


def test_the_visitors_choice_of_language_sticks_over_their_browsers(client: Client) -> None:
    client.get("/order/?lang=en", HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9")
    again = client.get("/order/", HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9").content.decode()
    assert '<html lang="en">' in again and "Order your website" in again
    client.get("/order/?lang=fr", HTTP_ACCEPT_LANGUAGE="en")
    assert "Commander votre site" in client.get("/order/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert client.cookies["order_lang"]["httponly"] and client.cookies["order_lang"]["samesite"] == "Lax"


def test_every_brief_field_of_the_list_is_on_the_form_with_a_fresh_submission_key(client: Client) -> None:
    from orders.forms import ORDER_FORM_FIELDS

    html = client.get("/order/?lang=en").content.decode()
    for spec in ORDER_FORM_FIELDS:
        assert f'name="{spec.name}"' in html, spec.name
    assert 'name="csrfmiddlewaretoken"' in html and 'name="website"' in html
    first = client.get("/order/").content.decode().split('name="submission_key" value="')[1].split('"')[0]
    second = client.get("/order/").content.decode().split('name="submission_key" value="')[1].split('"')[0]
    assert first and first != second


@pytest.mark.parametrize(
    ("lang", "message"),
    [("fr", "Indiquez une adresse e-mail valide"), ("en", "Enter a valid email address")],
)
def test_a_wrong_field_is_named_in_the_visitors_language_and_the_brief_is_kept(
    client: Client, fake_stripe: FakeStripe, lang: str, message: str
) -> None:
    response = submit_order(client, lang=lang, contact_email="claire-at-example")
    html = response.content.decode()
    assert response.status_code == 400
    assert message in html
    assert 'value="Boulangerie Martin"' in html and "Pain au levain" in html and 'value="claire-at-example"' in html
    assert not Project.objects.exists() and fake_stripe.requests == []


def test_the_form_refuses_what_the_api_refuses_with_the_same_validation(client: Client) -> None:
    from orders.brief import validate_brief

    bad = {**order_form(), "pages": "\n".join(f"Page {n}" for n in range(13)), "brand_color": "#12345"}
    response = client.post("/order/?lang=en", {**bad, "ui": "en"})
    expected = validate_brief(
        {
            "business_name": "x",
            "contact_email": "a@b.example",
            "pages": [f"Page {n}" for n in range(13)],
            "brand_color": "#12345",
            **FRENCH_LEGAL,
        }
    )
    assert set(expected) == {"pages", "brand_color"}
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="error-pages"' in html and 'id="error-brand_color"' in html
    assert not Project.objects.exists()


def test_a_valid_brief_creates_the_project_and_a_checkout_session_of_the_right_shape(
    client: Client, fake_stripe: FakeStripe
) -> None:
    response = submit_order(client, lang="en")
    assert response.status_code == 303
    project = Project.objects.get()
    assert response["Location"] == project.checkout_url
    assert project.status == ProjectStatus.AWAITING_PAYMENT and project.pages == ["Accueil", "Services", "Contact"]
    [call] = fake_stripe.calls("POST", "/v1/checkout/sessions")
    params = call["params"]
    assert fake_stripe.errors == []
    assert params["client_reference_id"] == str(project.id)
    assert params["customer_email"] == FORM["contact_email"]
    assert params["locale"] == "en"
    assert params["line_items[0][price_data][unit_amount]"] == "39900"
    assert params["line_items[0][price_data][currency]"] == "eur"
    assert params["success_url"] == f"http://testserver/status/{project.status_token}/"
    cancel = urlsplit(params["cancel_url"])
    assert cancel.path == "/order/" and parse_qs(cancel.query)["resume"] == [project.status_token]
    assert call["headers"]["idempotency-key"] == f"checkout:{project.id}"
    assert project.checkout_session_id == fake_stripe.sessions[project.checkout_session_id]["id"]


def test_price_and_currency_come_from_settings(client: Client, fake_stripe: FakeStripe, settings: Any) -> None:
    settings.ORDER_PRICE_CENTS, settings.ORDER_CURRENCY = 49900, "usd"
    assert "$499.00 including VAT" in client.get("/order/?lang=en").content.decode()
    submit_order(client)
    [call] = fake_stripe.calls("POST", "/v1/checkout/sessions")
    assert call["params"]["line_items[0][price_data][unit_amount]"] == "49900"
    assert call["params"]["line_items[0][price_data][currency]"] == "usd"


def test_a_double_submit_makes_one_project_and_one_session(client: Client, fake_stripe: FakeStripe) -> None:
    first = submit_order(client)
    second = submit_order(client)
    assert first.status_code == second.status_code == 303
    assert first["Location"] == second["Location"]
    assert Project.objects.count() == 1 and len(fake_stripe.sessions) == 1


def test_a_resubmit_after_a_lost_answer_gets_stripes_first_session_back(
    client: Client, fake_stripe: FakeStripe
) -> None:
    # The first request reached Stripe, then died before saving the session: the retry finds the same
    # project (same form, same content), whose idempotency key makes Stripe answer with that same session.
    first = submit_order(client)
    project = Project.objects.get()
    Project.objects.filter(id=project.id).update(checkout_url="", checkout_session_id=None)
    response = submit_order(client)
    assert response.status_code == 303 and response["Location"] == first["Location"]
    assert Project.objects.count() == 1
    assert len(fake_stripe.sessions) == 1 and len(fake_stripe.calls("POST", "/v1/checkout/sessions")) == 2


def test_a_filled_honeypot_creates_nothing(client: Client, fake_stripe: FakeStripe) -> None:
    response = client.post("/order/", {**order_form(), "website": "http://spam.example"})
    assert response.status_code == 400
    assert not Project.objects.exists() and fake_stripe.requests == []


def test_the_form_needs_its_csrf_token(fake_stripe: FakeStripe) -> None:
    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/order/", order_form()).status_code == 403
    assert not Project.objects.exists()


def test_submissions_are_throttled_per_client(client: Client, monkeypatch: Any) -> None:
    from core.throttling import OrderFormThrottle

    monkeypatch.setattr(OrderFormThrottle, "THROTTLE_RATES", {**OrderFormThrottle.THROTTLE_RATES, "order": "2/min"})
    codes = [submit_order(client, submission_key=f"key-{n}").status_code for n in range(3)]
    assert codes == [303, 303, 429]


def test_stripe_down_keeps_the_brief_and_says_so(client: Client, fake_stripe: FakeStripe, settings: Any) -> None:
    settings.STRIPE_TIMEOUT_SECONDS = 0.3
    fake_stripe.stall_next("/v1/checkout/sessions", 1.0)
    response = submit_order(client)
    assert response.status_code == 503
    html = response.content.decode()
    assert "Le paiement est momentanément indisponible" in html and 'value="Boulangerie Martin"' in html
    # The same form submitted again goes through: same project, the session Stripe made meanwhile.
    settings.STRIPE_TIMEOUT_SECONDS = 3.0  # the fake answers one request at a time: let it finish the first
    retry = submit_order(client)
    assert retry.status_code == 303 and Project.objects.count() == 1 and len(fake_stripe.sessions) == 1


def test_checkouts_cancel_link_brings_back_the_brief(client: Client, fake_stripe: FakeStripe) -> None:
    submit_order(client, lang="en")
    cancel_url = fake_stripe.calls("POST", "/v1/checkout/sessions")[0]["params"]["cancel_url"]
    html = client.get(cancel_url.removeprefix("http://testserver")).content.decode()
    assert "You were not charged" in html
    assert 'value="Boulangerie Martin"' in html and "Accueil\nServices\nContact" in html


# -- Stripe's events ---------------------------------------------------------------------------


def test_a_second_completion_for_one_session_starts_nothing_twice(client: Client, fake_stripe: FakeStripe) -> None:
    project = paid_through_checkout(client, fake_stripe)
    assert project.status in (ProjectStatus.PAID, ProjectStatus.IN_PROGRESS)
    assert project.payment_intent_id == fake_stripe.sessions[project.checkout_session_id]["payment_intent"]
    again = post_event(client, fake_stripe.completed_event(project.checkout_session_id, event_id="evt_second"))
    assert again.json()["status"] == "processed" and "Already fulfilled" in again.json()["outcome"]
    assert WorkflowRun.objects.filter(project=project).count() == 1


@pytest.mark.parametrize("event_type", ["checkout.session.expired", "checkout.session.async_payment_failed"])
def test_an_expired_or_failed_session_closes_the_order_as_abandoned(
    client: Client, fake_stripe: FakeStripe, event_type: str
) -> None:
    submit_order(client)
    project = Project.objects.get()
    event = fake_stripe.expired_event(project.checkout_session_id)
    event["type"] = event_type
    event["id"] = f"evt_{event_type}"
    answer = post_event(client, event)
    assert answer.json()["status"] == "processed"
    project.refresh_from_db()
    assert project.status == ProjectStatus.ABANDONED and project.abandoned_at is not None
    again = post_event(client, event)
    assert again.json()["duplicate"] is True
    assert not WorkflowRun.objects.exists()
    page = client.get(f"/status/{project.status_token}/").content.decode()
    assert "Le paiement n&#x27;a pas abouti : rien n&#x27;a été débité" in page


def test_an_expired_event_never_touches_a_paid_order(client: Client, fake_stripe: FakeStripe) -> None:
    project = paid_through_checkout(client, fake_stripe)
    answer = post_event(client, fake_stripe.expired_event(project.checkout_session_id))
    assert answer.json()["status"] == "processed" and "changes nothing" in answer.json()["outcome"]
    project.refresh_from_db()
    assert project.status != ProjectStatus.ABANDONED


def test_an_expired_event_for_no_order_of_ours_is_rejected(client: Client, fake_stripe: FakeStripe) -> None:
    event = {
        "id": "evt_x",
        "object": "event",
        "type": "checkout.session.expired",
        "data": {"object": {"id": "cs_x", "client_reference_id": "not-a-uuid"}},
    }
    answer = post_event(client, event)
    assert answer.status_code == 200 and answer.json()["status"] == "rejected"
    assert WebhookEvent.objects.get(external_id="evt_x").status == "rejected"
