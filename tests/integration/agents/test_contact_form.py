"""POST /sites/<slug>/contact: validated, throttled, honeypot-guarded, stored, emailed to the business."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.test import Client

from agents.contact import contact_messages_prune
from agents.models import ContactMessage
from orders.models import Project, ProjectStatus
from tests.support.briefs import load_briefs

BAKERY = load_briefs()[0]
MESSAGE = {"name": "Jeanne Client", "email": "jeanne@example.org", "phone": "06 11 22 33 44", "message": "Bonjour !"}
JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture(autouse=True)
def fresh_throttle(settings: Any) -> None:
    settings.SITE_URL = "http://testserver"
    cache.clear()


@pytest.fixture
def site(db: Any) -> Project:
    core = {k: BAKERY[k] for k in ("business_name", "sector", "city", "language", "contact_email")}
    return Project.objects.create(
        **core, slug="boulangerie-martin-lyon", status=ProjectStatus.DELIVERED, details={"phone": BAKERY["phone"]}
    )


def post(data: dict[str, Any], slug: str = "boulangerie-martin-lyon", **headers: Any) -> Any:
    return Client().post(f"/sites/{slug}/contact", {**data, "page": "contact.html"}, **headers)


def test_a_message_is_stored_and_emailed_to_the_business_with_reply_to_the_visitor(site: Project):
    response = post(MESSAGE, **JSON)

    assert response.status_code == 200
    assert response.json()["ok"] is True and "envoyé" in response.json()["message"]
    stored = ContactMessage.objects.get()
    assert (stored.project, stored.name, stored.email, stored.message) == (
        site,
        *list(MESSAGE.values())[:2],
        "Bonjour !",
    )
    assert stored.status == ContactMessage.Status.EMAILED and stored.page == "contact.html"
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == [site.contact_email]
    assert email.reply_to == ["jeanne@example.org"]
    assert "Jeanne Client" in email.subject and "Bonjour !" in email.body and "06 11 22 33 44" in email.body


def test_without_javascript_the_visitor_gets_a_page_in_the_site_language_with_a_way_back(site: Project):
    response = post(MESSAGE, HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="fr">' in html and "Merci, votre message a bien été envoyé" in html
    assert 'href="http://testserver/sites/boulangerie-martin-lyon/contact.html"' in html
    assert ContactMessage.objects.count() == 1


def test_bad_fields_are_named_in_the_site_language_and_nothing_is_sent(site: Project):
    response = post({"name": "", "email": "not-an-email", "message": ""}, **JSON)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and set(error["detail"]) == {"name", "email", "message"}
    assert "e-mail valide" in error["message"]
    assert not ContactMessage.objects.exists() and mail.outbox == []


def test_a_filled_honeypot_looks_like_success_but_stores_and_sends_nothing(site: Project):
    response = post({**MESSAGE, "website": "http://spam.example"}, **JSON)

    assert response.status_code == 200
    assert not ContactMessage.objects.exists() and mail.outbox == []


def test_a_double_click_sends_one_email(site: Project):
    assert post(MESSAGE, **JSON).status_code == 200
    assert post(MESSAGE, **JSON).status_code == 200

    assert ContactMessage.objects.count() == 1 and len(mail.outbox) == 1


def test_a_visitor_is_throttled_after_the_contact_rate(site: Project, settings: Any):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "contact": "2/hour"},
    }
    from rest_framework.throttling import SimpleRateThrottle

    previous = SimpleRateThrottle.THROTTLE_RATES
    SimpleRateThrottle.THROTTLE_RATES = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    try:
        codes = [post({**MESSAGE, "message": f"Message {n}"}, **JSON).status_code for n in range(3)]
    finally:
        SimpleRateThrottle.THROTTLE_RATES = previous

    assert codes == [200, 200, 429]
    assert ContactMessage.objects.count() == 2


def test_another_origin_may_not_post_and_the_site_origin_gets_cors(site: Project):
    refused = post(MESSAGE, HTTP_ORIGIN="https://evil.example", **JSON)
    allowed = post(MESSAGE, HTTP_ORIGIN="http://testserver", **JSON)

    assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused
    assert allowed.status_code == 200 and allowed["Access-Control-Allow-Origin"] == "http://testserver"


def test_an_unknown_or_undelivered_site_takes_no_message(site: Project):
    assert post(MESSAGE, slug="nobody", **JSON).status_code == 404
    Project.objects.filter(id=site.id).update(status=ProjectStatus.CANCELLED)
    assert post(MESSAGE, **JSON).status_code == 404
    assert Client().get("/sites/boulangerie-martin-lyon/contact").status_code == 405


def test_an_order_building_its_first_site_takes_no_message_but_a_site_being_revised_does(site: Project):
    # Paid, building: the slug exists (and is guessable from the name) but nothing is published yet.
    Project.objects.filter(id=site.id).update(status=ProjectStatus.IN_PROGRESS, site_url="", delivered_at=None)
    assert post(MESSAGE, **JSON).status_code == 404
    assert not ContactMessage.objects.exists() and mail.outbox == []
    # Delivered once, now being revised: the live site keeps taking messages.
    Project.objects.filter(id=site.id).update(site_url="http://testserver/sites/boulangerie-martin-lyon/")
    assert post(MESSAGE, **JSON).status_code == 200
    assert ContactMessage.objects.count() == 1


def test_a_failed_email_keeps_the_message_for_staff(site: Project, settings: Any, monkeypatch: Any):
    def refuse(*_args: Any, **_kwargs: Any) -> int:
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", refuse)

    response = post(MESSAGE, **JSON)

    assert response.status_code == 200  # the message is kept: the business will get it
    stored = ContactMessage.objects.get()
    assert stored.status == ContactMessage.Status.FAILED and "smtp down" in stored.error


def test_messages_past_their_retention_are_pruned(site: Project):
    post(MESSAGE, **JSON)
    ContactMessage.objects.update(created_at="2020-01-01T00:00:00Z")

    assert contact_messages_prune(older_than_days=365) == 1
    assert not ContactMessage.objects.exists()


def test_the_prune_command_applies_the_retention_and_refuses_a_bad_value(site: Project):

    post(MESSAGE, **JSON)
    ContactMessage.objects.update(created_at="2020-01-01T00:00:00Z")
    out = StringIO()
    call_command("prune_contact_messages", stdout=out)
    assert "Deleted 1 contact message(s) older than 365 days." in out.getvalue()
    with pytest.raises(CommandError, match="at least 1"):
        call_command("prune_contact_messages", "--days", "0")
