"""The customer's whole journey in a real browser, in French and in English (Debian's Chromium, Playwright).

The order form (one wrong field first: a clear message, the brief kept) -> the fake Stripe Checkout ->
the signed checkout.session.completed -> the status page updating by itself to delivered -> a change
request -> the new version live. Every page is screenshotted at 1280 and 375 px (full page) into
JOURNEY_SCREENSHOTS (default var/screenshots/journey/) and checked: it fits the width, no console error,
no request to another host.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import requests
import stripe
from django.conf import settings as django_settings

from orchestration.budget import Budget
from orchestration.execution import tick
from orders.models import Project, ProjectStatus, Revision, RevisionStatus
from tests.acceptance.browser.conftest import CHROMIUM
from tests.acceptance.browser.test_site_browser import Watch, assert_fits
from tests.acceptance.journey.conftest import FRENCH_LEGAL_FORM
from tests.support.fake_stripe import API_KEY, FakeStripe
from tests.support.orders import drive

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent: apt-get install chromium (CI does)"),
]

WIDTHS = (1280, 375)
STRIPE_SECRET = "whsec_browser_journey_0123456789"
SHOTS = Path(os.environ.get("JOURNEY_SCREENSHOTS", Path(django_settings.BASE_DIR) / "var" / "screenshots" / "journey"))

CASES = {
    "fr": {
        "brief": {
            "business_name": "Boulangerie Martin",
            "contact_email": "claire@boulangerie-martin.example",
            "sector": "Boulangerie",
            "city": "Lyon",
            "description": "Pain au levain, viennoiseries et gâteaux de fête, au cœur de la Croix-Rousse.",
            "pages": "Accueil\nServices\nContact",
            # What a French site's legal notice needs, as the order form's fields.
            **FRENCH_LEGAL_FORM,
        },
        "error": "Indiquez une adresse e-mail valide",
        "delivered": "Votre site est en ligne",
        "feedback": "Mettez la couleur en vert. Renommer la page « Services » en « Nos prestations ». "
        "Ajoutez une vidéo de la boutique.",
        "renamed": "Nos prestations",
        "live_revision": "En ligne",
        "receipt": "Reçu",
    },
    "en": {
        "brief": {
            "business_name": "Leeds Rapid Plumbing",
            "contact_email": "office@leeds-rapid-plumbing.example",
            "sector": "Plumber",
            "city": "Leeds",
            "description": "Emergency plumbing and boiler repairs across Leeds, day and night.",
            "pages": "Home\nServices\nContact",
        },
        "error": "Enter a valid email address",
        "delivered": "Your site is live",
        "feedback": 'Make the colour teal. Rename the page "Services" to "What we do". Add a booking calendar.',
        "renamed": "What we do",
        "live_revision": "Live",
        "receipt": "Receipt",
    },
}


@pytest.fixture
def journey_server(settings: Any, live_server: Any, httpserver: Any, tmp_path: Path) -> tuple[Any, FakeStripe]:
    fake = FakeStripe(httpserver)
    settings.SITE_URL = live_server.url
    settings.STRIPE_API_KEY = API_KEY
    settings.STRIPE_API_BASE = fake.url
    settings.STRIPE_WEBHOOK_SECRET = STRIPE_SECRET
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.DEPLOY_PROVIDER = "local"
    settings.LLM_BASE_URL = ""
    settings.ORCHESTRATION = {**settings.ORCHESTRATION, "KICK": False, "DISPATCH_MODE": "inline"}
    return live_server, fake


def shoot(page: Any, name: str, watch: Watch) -> None:
    """The page at both widths, full length, checked and saved."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(150)  # a relayout after the resize
        assert_fits(page, width, f"{name} at {width}px")
        shot = SHOTS / f"{name}-{width}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 3_000, shot
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})
    watch.assert_clean(name)


def send_completed(base_url: str, fake: FakeStripe, session_id: str) -> dict[str, Any]:
    """What Stripe sends when the customer pays: the event, signed with the webhook secret."""
    body = json.dumps(fake.completed_event(session_id))
    header = stripe.WebhookSignature.generate_signature_header(body, STRIPE_SECRET)
    answer = requests.post(
        f"{base_url}/api/payments/webhook",
        data=body.encode(),
        headers={"Content-Type": "application/json", "Stripe-Signature": header},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_whole_journey_in_the_browser(browser: Any, journey_server: tuple[Any, FakeStripe], language: str) -> None:
    server, fake = journey_server
    case = CASES[language]
    context = browser.new_context(
        viewport={"width": WIDTHS[0], "height": 900}, locale="fr-FR" if language == "fr" else "en-GB"
    )
    context.set_default_timeout(20_000)
    page = context.new_page()
    watch = Watch()
    watch.attach(page)
    try:
        # The order form, in the browser's language.
        page.goto(f"{server.url}/order/", wait_until="load")
        assert page.get_attribute("html", "lang") == language
        shoot(page, f"{language}-1-order-form", watch)

        # One wrong field first: a clear message, nothing lost.
        for name, value in case["brief"].items():
            page.fill(f"[name={name}]", value)
        page.fill("[name=contact_email]", "not-an-email")
        watch.failed_responses.clear()
        with page.expect_navigation():
            page.click("#submit")
        assert case["error"] in page.inner_text("#error-contact_email")
        assert page.input_value("[name=business_name]") == case["brief"]["business_name"]
        assert page.input_value("[name=pages]") == case["brief"]["pages"]
        assert not Project.objects.exists()
        # The form's own answer is a 400 (bad input gets a 4xx), which Chromium also logs: expected here only.
        assert [r.split()[0] for r in watch.failed_responses] == ["400"]
        watch.failed_responses.clear()
        watch.console_errors = [e for e in watch.console_errors if "status of 400" not in e]
        shoot(page, f"{language}-2-order-form-error", watch)

        # Fixed and sent: Stripe's (fake) Checkout.
        page.fill("[name=contact_email]", case["brief"]["contact_email"])
        with page.expect_navigation():
            page.click("#submit")
        assert page.url.startswith(fake.url + "/pay/cs_test_")
        project = Project.objects.get()
        assert project.language == language and project.checkout_session_id in page.url
        assert page.inner_text("#email") == case["brief"]["contact_email"]
        shoot(page, f"{language}-3-checkout", watch)

        # The customer pays; Stripe sends the signed event; Checkout returns to the status page.
        assert send_completed(server.url, fake, project.checkout_session_id)["status"] == "processed"
        with page.expect_navigation():
            page.click("#pay")
        assert page.url == f"{server.url}/status/{project.status_token}/"
        page.evaluate("window.__sameDocument = true")
        shoot(page, f"{language}-4-status-in-progress", watch)

        # The order is built while the customer watches: the page gets there by itself.
        drive(project)
        assert project.status == ProjectStatus.DELIVERED
        page.wait_for_selector("#live", timeout=20_000)
        assert page.evaluate("window.__sameDocument") is True, "updated in place, not reloaded"
        assert page.inner_text("#status") == case["delivered"]
        receipt = page.inner_text("#receipt")
        assert case["receipt"] in receipt and project.reference in receipt
        assert page.is_visible("#campaign") and page.is_visible("#changes-form")
        shoot(page, f"{language}-5-status-delivered", watch)

        page.goto(project.site_url, wait_until="load")
        assert case["renamed"] not in page.inner_text("nav")
        shoot(page, f"{language}-6-site-first-version", watch)

        # A change request; the new version goes live and the page says so by itself.
        page.goto(f"{server.url}/status/{project.status_token}/", wait_until="load")
        page.fill("#feedback", case["feedback"])
        with page.expect_navigation():
            page.click("#request-changes")
        revision = Revision.objects.get(project=project)
        page.wait_for_selector('.revision[data-status="in_progress"]')
        shoot(page, f"{language}-7-status-revision-in-progress", watch)
        for _ in range(20):
            tick(budget=Budget.seconds(30))
            revision.refresh_from_db()
            if revision.status != RevisionStatus.IN_PROGRESS:
                break
        assert revision.status == RevisionStatus.LIVE
        page.wait_for_selector('.revision[data-status="live"]', timeout=20_000)
        assert case["live_revision"] in page.inner_text(".revision-state")
        assert page.locator(".revision .not-applied li").count() == 1
        shoot(page, f"{language}-8-status-revision-live", watch)

        # A fresh visitor (published pages may be cached for 60 s by a browser that saw the old ones).
        visitor = browser.new_context(viewport={"width": WIDTHS[0], "height": 900})
        try:
            fresh = visitor.new_page()
            fresh_watch = Watch()
            fresh_watch.attach(fresh)
            fresh.goto(project.site_url, wait_until="load")
            assert case["renamed"] in fresh.inner_text("nav")
            shoot(fresh, f"{language}-9-site-new-version", fresh_watch)
        finally:
            visitor.close()
    finally:
        context.close()
