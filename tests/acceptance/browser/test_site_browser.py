"""The generated site and the customer's status page in a real browser (Debian's Chromium, driven by Playwright).

An order runs inline with the real agents; the local provider publishes the site, which the live server
serves at /sites/<slug>/. Every page of the three demo sites and of one site with photos, a logo and every
business detail is opened at desktop and phone widths: no console error, no request to another host, nothing
wider than the viewport, readable text contrast, no serious or critical axe-core violation, the phone link and
the legal notice and privacy links on every page; the contact form sends a message that is stored and arrives
by (captured) email, with and without JavaScript. Full-page screenshots go under tmp_path (SCREENSHOTS_DIR, when
set, keeps them).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.core.cache import cache

from agents.models import ContactMessage
from orders.models import ProjectStatus
from tests.acceptance.browser.axe import axe_violations
from tests.acceptance.browser.conftest import CHROMIUM
from tests.support.briefs import load_briefs
from tests.support.images import b64, logo_bytes, photo_bytes
from tests.support.orders import drive, place_order, run_order, step_outputs

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent: apt-get install chromium (CI does)"),
]

WIDTHS = (1280, 375)
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
BRIEFS = load_briefs()[:3]
# A business that gave everything the brief can carry: photos, a logo, hours, legal identity, social links.
FULL_BRIEF: dict[str, Any] = {
    "business_name": "Pearl & Pine Hair Studio",
    "sector": "hairdresser",
    "city": "Bristol",
    "description": "Cuts, colour and bridal hair in the heart of Bristol. Walk-ins welcome on Saturdays.",
    "pages": ["Home", "Services", "Prices", "About", "Contact"],
    "brand_color": "#d63384",
    "language": "en",
    "contact_email": "hello@pearlandpine.example",
    "phone": "+44 117 496 0777",
    "street_address": "21 Park Street",
    "postcode": "BS1 5NH",
    "opening_hours": {
        "tue": ["09:30-18:00"],
        "wed": ["09:30-18:00"],
        "thu": ["09:30-20:00"],
        "fri": ["09:30-18:00"],
        "sat": ["09:00-17:00"],
    },
    "legal": {
        "company_name": "Pearl & Pine Ltd",
        "legal_form": "Private limited company",
        "registration_number": "12345678",
        "vat_number": "GB123456789",
    },
    "social_links": ["https://www.instagram.com/pearlandpine", "https://www.facebook.com/pearlandpine"],
    "photos": [
        {"data": b64(photo_bytes(1800, 1200, colour=(200, 150, 170))), "alt": "The salon's front room"},
        {"data": b64(photo_bytes(1200, 1600, colour=(90, 60, 80))), "alt": "A balayage colour"},
        {"data": b64(photo_bytes(1600, 1200, colour=(230, 200, 190))), "alt": "Bridal hair, pinned"},
    ],
    "logo": {"data": b64(logo_bytes(512)), "alt": "Pearl & Pine"},
}
SITES = [*BRIEFS, FULL_BRIEF]
SITE_IDS = ["bakery-fr", "plumber-en", "law-fr", "salon-en-photos"]
LEGAL_FILES = {"fr": ("mentions-legales.html", "confidentialite.html"), "en": ("legal-notice.html", "privacy.html")}

# Elements sticking out past the right edge of the viewport (1 px of sub-pixel rounding allowed).
OVERFLOW_JS = """() => {
  const limit = window.innerWidth + 1;
  return [...document.querySelectorAll("body *")]
    .map(el => [el, el.getBoundingClientRect()])
    .filter(([el, r]) => r.width > 0 && r.right > limit)
    .map(([el, r]) => `${el.tagName.toLowerCase()}.${el.className} right=${Math.round(r.right)}`);
}"""

# Contrast of every visible piece of text against the colour actually painted behind it, from computed
# styles (WCAG 2.x formula, written here rather than taken from the design module).
CONTRAST_JS = """() => {
  const rgba = s => {
    const m = s.match(/[\\d.]+/g).map(Number);
    return {r: m[0], g: m[1], b: m[2], a: m.length > 3 ? m[3] : 1};
  };
  const lum = c => [c.r, c.g, c.b].map(v => v / 255).map(v => v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const behind = el => {
    for (let node = el; node; node = node.parentElement) {
      const c = rgba(getComputedStyle(node).backgroundColor);
      if (c.a >= 0.99) return c;
      if (c.a > 0) return null;  // translucent layers: not a flat colour to measure against
    }
    return {r: 255, g: 255, b: 255, a: 1};
  };
  const failures = [];
  for (const el of document.querySelectorAll("body *")) {
    const text = [...el.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join("").trim();
    const style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    if (!text || box.width === 0 || style.visibility !== "visible" || Number(style.opacity) === 0) continue;
    if (box.right < 0 || box.bottom < 0) continue;  // parked off screen, e.g. the skip link until focused
    const bg = behind(el);
    if (bg === null) continue;
    const [hi, lo] = [lum(rgba(style.color)), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    if (ratio < 4.5) failures.push(`${el.tagName.toLowerCase()} "${text.slice(0, 30)}" ${ratio.toFixed(2)}:1`);
  }
  return failures;
}"""


@dataclass
class Watch:
    """What a page did that it should not: console errors, uncaught exceptions, requests to other hosts."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    remote_requests: list[str] = field(default_factory=list)
    failed_responses: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        page.on("console", lambda msg: self.console_errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("request", self._request)
        page.on("response", lambda r: self.failed_responses.append(f"{r.status} {r.url}") if r.status >= 400 else None)

    def _request(self, request: Any) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("data", "blob", "about"):
            return
        if parts.hostname not in LOCAL_HOSTS:
            self.remote_requests.append(request.url)

    def assert_clean(self, where: str) -> None:
        assert self.console_errors == [], (where, self.console_errors)
        assert self.page_errors == [], (where, self.page_errors)
        assert self.remote_requests == [], (where, self.remote_requests)
        assert self.failed_responses == [], (where, self.failed_responses)


@pytest.fixture
def published(settings: Any, live_server: Any, tmp_path: Path) -> Any:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.SITE_URL = live_server.url
    settings.DEPLOY_PROVIDER = "local"
    settings.LLM_BASE_URL = ""
    return live_server


def open_page(browser: Any, width: int) -> tuple[Any, Any, Watch]:
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    watch = Watch()
    watch.attach(page)
    return context, page, watch


def screenshots_dir(tmp_path: Path, name: str) -> Path:
    root = Path(os.environ["SCREENSHOTS_DIR"]) if os.environ.get("SCREENSHOTS_DIR") else tmp_path
    shots = root / name
    shots.mkdir(parents=True, exist_ok=True)
    return shots


def assert_fits(page: Any, width: int, where: str) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width, where
    assert page.evaluate("window.innerWidth") == width
    assert page.evaluate(OVERFLOW_JS) == [], where


@pytest.mark.parametrize("brief", SITES, ids=SITE_IDS)
def test_every_page_of_the_published_site_is_clean_at_desktop_and_phone_widths(browser, published, brief, tmp_path):
    project = run_order(brief)
    assert project.status == ProjectStatus.DELIVERED
    pages = [path for path in step_outputs(project)["build"]["files"] if path.endswith(".html")]
    legal, privacy = LEGAL_FILES[brief["language"]]
    assert len(pages) == len(brief["pages"]) + 2 and {legal, privacy} <= set(pages)
    shots = screenshots_dir(tmp_path, project.slug)
    for width in WIDTHS:
        context, page, watch = open_page(browser, width)
        try:
            for path in pages:
                where = f"{path} at {width}px"
                url = f"{published.url}/sites/{project.slug}/{path}"
                response = page.goto(url, wait_until="load")
                assert response is not None and response.status == 200, where
                assert page.title(), where
                assert_fits(page, width, where)
                assert page.evaluate(CONTRAST_JS) == [], where
                assert axe_violations(page) == [], where
                # The phone is one tap away on every page; the legal pages are linked from every footer.
                assert page.locator(f'a[href="{phone_href(brief)}"]').count() >= 1, where
                assert page.locator(f'footer a[href="{legal}"]').count() == 1, where
                assert page.locator(f'footer a[href="{privacy}"]').count() == 1, where
                if width < 768:
                    assert page.is_visible(".header-call"), f"{where}: click-to-call in the header"
                    # The phone menu opens and still fits.
                    page.click(".nav-toggle")
                    assert page.is_visible("#site-nav"), where
                    assert_fits(page, width, f"{where}, menu open")
                    page.click(".nav-toggle")
                shot = shots / f"{width}-{path.replace('.html', '')}.png"
                page.screenshot(path=str(shot), full_page=True)
                assert shot.stat().st_size > 5_000, shot
            watch.assert_clean(f"{project.slug} at {width}px")
        finally:
            context.close()
    assert len(list(shots.glob("*.png"))) == len(pages) * len(WIDTHS)
    if brief is FULL_BRIEF:
        assert_photos_and_logo_are_served(browser, published, project)


def phone_href(brief: dict[str, Any]) -> str:
    phone = brief["phone"]
    return "tel:" + ("+" if phone.startswith("+") else "") + re.sub(r"\D", "", phone)


def assert_photos_and_logo_are_served(browser: Any, published: Any, project: Any) -> None:
    context, page, watch = open_page(browser, 1280)
    try:
        page.goto(f"{published.url}/sites/{project.slug}/index.html", wait_until="load")
        page.locator(".gallery").scroll_into_view_if_needed()
        page.wait_for_function("[...document.images].every(img => img.complete && img.naturalWidth > 0)")
        photos = page.locator(".photo-grid img")
        assert photos.count() == 3
        assert all(" 480w" in (photos.nth(i).get_attribute("srcset") or "") for i in range(3))
        assert page.get_attribute(".brand img", "src").startswith("assets/logo-")
        watch.assert_clean("photos and logo")
    finally:
        context.close()


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_the_contact_form_sends_a_message_that_is_stored_and_emailed(browser, published, javascript, tmp_path):
    cache.clear()  # the contact throttle counts per visitor; every test starts as a new one
    mail.outbox = []
    project = run_order(BRIEFS[0])
    context = browser.new_context(viewport={"width": 375, "height": 900}, java_script_enabled=javascript)
    context.set_default_timeout(15_000)
    page = context.new_page()
    watch = Watch()
    watch.attach(page)
    try:
        page.goto(f"{published.url}/sites/{project.slug}/contact.html", wait_until="load")
        page.fill("#cf-name", "Jeanne Client")
        page.fill("#cf-email", "jeanne@example.org")
        page.fill("#cf-phone", "06 11 22 33 44")
        page.fill("#cf-message", "Bonjour, gardez-moi deux baguettes pour samedi ?")
        if javascript:
            page.evaluate("window.__sameDocument = true")
            page.click("button[type=submit]")
            page.wait_for_selector(".form-status.is-sent")
            assert page.evaluate("window.__sameDocument") is True, "confirmed without a reload"
            assert "bien été envoyé" in page.inner_text(".form-status")
            assert page.input_value("#cf-message") == ""
            assert axe_violations(page) == []
        else:
            with page.expect_navigation():
                page.click("button[type=submit]")
            assert "bien été envoyé" in page.inner_text("main")
            assert page.locator(f'a[href$="/sites/{project.slug}/contact.html"]').count() == 1
        shot = screenshots_dir(tmp_path, "contact") / f"sent-{'js' if javascript else 'nojs'}.png"
        (page.locator("#message") if javascript else page).screenshot(path=str(shot))
        watch.assert_clean("contact form")
    finally:
        context.close()
    stored = ContactMessage.objects.get(project=project)
    assert stored.email == "jeanne@example.org" and stored.status == ContactMessage.Status.EMAILED
    # The order's own emails (payment received, site live) are in the outbox too; the form's is the one to answer.
    sent = [message for message in mail.outbox if message.reply_to]
    assert len(sent) == 1
    assert sent[0].to == [project.contact_email] and sent[0].reply_to == ["jeanne@example.org"]
    assert "deux baguettes" in sent[0].body


def test_the_status_page_is_readable_on_a_phone_and_updates_itself_without_a_reload(browser, published, tmp_path):
    project = place_order(BRIEFS[1])
    context, page, watch = open_page(browser, 375)
    try:
        page.goto(f"{published.url}/status/{project.status_token}/", wait_until="load")
        page.evaluate("window.__sameDocument = true")  # survives polling, not a reload
        steps = page.locator("#steps li")
        assert steps.count() == 6
        assert page.inner_text("#steps li >> nth=0").splitlines()[-1].strip() == "Up next"
        assert re.fullmatch(r"\d+ min \d\d s", page.inner_text("#elapsed"))
        assert page.inner_text(".clock").endswith("/ 25 min")
        assert_fits(page, 375, "status page, in progress")
        body_px = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
        assert body_px >= 16, "body text must stay readable on a phone"
        assert page.evaluate(CONTRAST_JS) == []
        assert axe_violations(page) == [], "status page, in progress"

        drive(project)  # the order completes while the customer watches
        page.wait_for_selector("#live:not([hidden])", timeout=15_000)
        assert page.evaluate("window.__sameDocument") is True
        assert page.inner_text("#done") == "6/6"
        assert {text.splitlines()[-1].strip() for text in steps.all_inner_texts()} == {"Done"}
        assert page.get_attribute("#site", "href") == project.site_url
        assert_fits(page, 375, "status page, delivered")
        # The bar animates to full width; the screenshot shows where it ends.
        page.wait_for_function(
            "document.getElementById('bar').offsetWidth === document.getElementById('progress').clientWidth"
        )
        assert axe_violations(page) == [], "status page, delivered"
        page.screenshot(path=str(screenshots_dir(tmp_path, "status") / "status-375.png"), full_page=True)
        watch.assert_clean("status page")  # no favicon 404 in the console either
    finally:
        context.close()
