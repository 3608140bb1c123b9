"""A newcomer's first hour: `/` says where to go, `demo` keeps the admin login it printed, and
`send_test_payment` pays an order on a running server with a correctly signed Stripe event."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from gateway.models import EventStatus, WebhookEvent
from orders.models import ProjectStatus
from orders.services import project_create

SECRET = "whsec_local_test_0123456789abcdef"


def test_the_landing_page_links_the_order_page_the_back_office_and_the_api_docs(db):
    page = Client().get("/")

    assert page.status_code == 200
    html = page.content.decode()
    assert f'href="{reverse("admin:index")}"' in html
    assert f'href="{reverse("api-docs")}"' in html
    assert 'id="link-order"' in html  # the order page, or how orders arrive without it
    assert "Page not found" not in html


def demo(*args: str) -> str:
    out = io.StringIO()
    call_command("demo", "--timeout", "120", *args, stdout=out)
    return out.getvalue()


@pytest.mark.slow
def test_demo_creates_the_admin_login_once_and_never_resets_it(db):
    first = demo()
    password = re.search(r"login admin / (\S+), created now", first).group(1)
    staff = Client()
    assert staff.login(username="admin", password=password)
    session = staff.get("/admin/")
    assert session.status_code == 200

    second = demo()

    assert "login admin with your existing password" in second
    assert password not in second
    assert get_user_model().objects.get(username="admin").check_password(password)
    assert staff.get("/admin/").status_code == 200  # the open session survives the second demo


@pytest.mark.django_db(transaction=True)
def test_send_test_payment_pays_an_order_on_a_running_server(live_server, settings):
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    project = project_create(business_name="Atelier Test", contact_email="atelier@test.example")
    out = io.StringIO()

    call_command("send_test_payment", "atelier@test.example", "--url", live_server.url, stdout=out)

    project.refresh_from_db()
    assert project.status != ProjectStatus.AWAITING_PAYMENT
    assert project.runs.count() == 1
    event = WebhookEvent.objects.get()
    assert event.signature_ok and event.status == EventStatus.PROCESSED
    assert "answered 200" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_send_test_payment_with_the_wrong_amount_says_why_it_was_refused(live_server, settings):
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    project = project_create(business_name="Atelier Test", contact_email="atelier@test.example")

    with pytest.raises(CommandError, match="not applied: wrong_amount"):
        call_command("send_test_payment", str(project.id), "--url", live_server.url, "--amount", "100")

    project.refresh_from_db()
    assert project.status == ProjectStatus.AWAITING_PAYMENT


def test_send_test_payment_needs_the_webhook_secret_and_a_known_project(db, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    with pytest.raises(CommandError, match="STRIPE_WEBHOOK_SECRET is empty"):
        call_command("send_test_payment", "anything")
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    with pytest.raises(CommandError, match="No project matches 'nobody'"):
        call_command("send_test_payment", "nobody")


def test_send_test_payment_refuses_an_order_already_paid(db, settings):
    """The server would answer 200 'Already fulfilled' and the command exit 0: a success that paid nothing."""
    from django.utils import timezone

    from orders.models import Project

    settings.STRIPE_WEBHOOK_SECRET = SECRET
    project = project_create(business_name="Atelier Test", contact_email="atelier@test.example")
    Project.objects.filter(pk=project.pk).update(status=ProjectStatus.DELIVERED, paid_at=timezone.now())

    # No server runs at this address: the refusal comes before any request.
    with pytest.raises(CommandError, match=r"already paid \(status delivered\).*--again"):
        call_command("send_test_payment", str(project.id), "--url", "http://127.0.0.1:9")
