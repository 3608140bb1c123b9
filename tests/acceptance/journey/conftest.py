"""The customer's journey against a local fake of Stripe's API (tests/support/fake_stripe.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stripe
from django.core.cache import cache
from django.test import Client

from orders.models import Project
from tests.support.briefs import FRENCH_LEGAL
from tests.support.fake_stripe import API_KEY, FakeStripe

STRIPE_SECRET = "whsec_journey_test_0123456789abcdef"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def form_fields(brief: dict[str, Any]) -> dict[str, str]:
    """A brief's business details as the order form's flat fields (`legal.company_name` -> legal_company_name)."""
    fields: dict[str, str] = {}
    for key, value in brief.items():
        if isinstance(value, dict):
            fields.update({f"{key}_{child}": text for child, text in value.items()})
        else:
            fields[key] = value
    return fields


# What a French legal notice needs (tests/support/briefs.py FRENCH_LEGAL), as the order form's fields.
FRENCH_LEGAL_FORM = form_fields(FRENCH_LEGAL)

FORM = {
    "business_name": "Boulangerie Martin",
    "contact_email": "claire@boulangerie-martin.example",
    "sector": "Boulangerie",
    "city": "Lyon",
    "description": "Pain au levain et viennoiseries depuis 1998.",
    "pages": "Accueil\nServices\nContact",
    "brand_color": "#8a4b2a",
    "language": "fr",
    **FRENCH_LEGAL_FORM,
}


@pytest.fixture
def fake_stripe(httpserver: Any) -> FakeStripe:
    return FakeStripe(httpserver)


@pytest.fixture(autouse=True)
def journey_settings(settings: Any, fake_stripe: FakeStripe, tmp_path: Path) -> Iterator[None]:
    settings.STRIPE_API_KEY = API_KEY
    settings.STRIPE_API_BASE = fake_stripe.url
    settings.STRIPE_TIMEOUT_SECONDS = 2.0
    settings.STRIPE_WEBHOOK_SECRET = STRIPE_SECRET
    settings.SITE_URL = "http://testserver"
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.DEPLOY_PROVIDER = "local"
    settings.LLM_BASE_URL = ""
    settings.ORCHESTRATION = {**settings.ORCHESTRATION, "KICK": False, "DISPATCH_MODE": "inline"}
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    cache.clear()  # throttle counters
    yield
    cache.clear()


def order_form(**overrides: str) -> dict[str, str]:
    return {**FORM, "submission_key": overrides.pop("submission_key", "form-key-0001"), **overrides}


def submit_order(client: Client, *, lang: str = "fr", **overrides: str) -> Any:
    return client.post(f"/order/?lang={lang}", {**order_form(**overrides), "ui": lang})


def post_event(client: Client, event: dict[str, Any]) -> Any:
    body = json.dumps(event).encode()
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), STRIPE_SECRET)
    return client.post(
        "/api/payments/webhook", data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )


def paid_through_checkout(client: Client, fake: FakeStripe, **overrides: str) -> Project:
    """An order placed on the page and paid at the fake Checkout: Stripe's completed event, signed."""
    response = submit_order(client, **overrides)
    assert response.status_code == 303, response.content.decode()[:2000]
    project = Project.objects.get(checkout_url=response["Location"])
    answer = post_event(client, fake.completed_event(project.checkout_session_id))
    assert answer.status_code == 200 and answer.json()["status"] == "processed", answer.json()
    project.refresh_from_db()
    return project
