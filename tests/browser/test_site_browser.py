"""The generated site and the customer's status page in a real browser (Debian's Chromium, driven by Playwright).

An order runs inline with the real agents; the local provider publishes the site, which the live server
serves at /sites/<slug>/. Every page is opened at desktop and phone widths: no console error, no request to
another host, nothing wider than the viewport, readable text contrast; full-page screenshots go under tmp_path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from orders.models import ProjectStatus
from tests.agents import load_briefs
from tests.agents.orders import drive, place_order, run_order, step_outputs
from tests.browser.conftest import CHROMIUM

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent: apt-get install chromium (CI does)"),
]

WIDTHS = (1280, 375)
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
BRIEFS = load_briefs()[:3]

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


def assert_fits(page: Any, width: int, where: str) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width, where
    assert page.evaluate("window.innerWidth") == width
    assert page.evaluate(OVERFLOW_JS) == [], where


@pytest.mark.parametrize("brief", BRIEFS, ids=["bakery-fr", "plumber-en", "law-fr"])
def test_every_page_of_the_published_site_is_clean_at_desktop_and_phone_widths(browser, published, brief, tmp_path):
    project = run_order(brief)
    assert project.status == ProjectStatus.DELIVERED
    pages = [path for path in step_outputs(project)["build"]["files"] if path.endswith(".html")]
    assert len(pages) == len(brief["pages"])
    shots = tmp_path / "screenshots"
    shots.mkdir()
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
                if width < 768:
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
        page.screenshot(path=str(tmp_path / "status-375.png"), full_page=True)
        watch.assert_clean("status page")  # no favicon 404 in the console either
    finally:
        context.close()
