"""A staff member who has never seen the product fixes two failed orders from each order's page
alone, in a real browser, on real order workflows (the four agents, the offline providers):

- one whose brief has an invalid email: read the cause, correct the field, save, replay, in at
  most 4 clicks from the search result;
- one whose AI provider was unreachable: the cause in words on the page (with the setting to
  check), the provider fixed, the replay.

Both end delivered. Screenshots of the home page, the order's page and the dashboard are saved
(tests/acceptance/browser/screenshots/, or BACKOFFICE_SCREENSHOTS) for a human to look at.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model

from orchestration import clock
from orchestration.models import OperatorAction, RunStatus, Task, TaskStatus
from orders.models import Project, ProjectStatus
from orders.selectors import project_latest_run
from orders.services import project_create, project_mark_paid
from tests.support.factories import drain
from tests.support.fake_openai import FakeOpenAI

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = pytest.mark.slow
PASSWORD = "correct-horse-battery-9"
SHOTS = Path(os.environ.get("BACKOFFICE_SCREENSHOTS", Path(__file__).parent / "screenshots"))


def closed_port() -> int:
    """A local port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def paid(name: str, email: str) -> Project:
    project = project_create(business_name=name, contact_email=email, city="Lyon", sector="florist", language="en")
    project_mark_paid(
        project_id=project.id,
        checkout_session_id=f"cs_test_{project.id.hex[:12]}",
        amount_cents=django_settings.ORDER_PRICE_CENTS,
        currency=django_settings.ORDER_CURRENCY,
    )
    return project


def run_to_the_end() -> None:
    """Tick until nothing is left to do, bringing each backed-off retry forward (the engine's
    backoff is minutes of wall time; the test does not wait for it)."""
    for _ in range(20):
        drain()
        waiting = Task.objects.filter(status=TaskStatus.QUEUED, run_after__gt=clock.now())
        if not waiting.exists() and not Task.objects.filter(status=TaskStatus.QUEUED).exists():
            return
        waiting.update(run_after=clock.now())
    raise AssertionError("the orders did not settle after 20 ticks")


class Clicks:
    """Counts the clicks a staff member makes (typing is not a click)."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.count = 0

    def __call__(self, selector: str, *, navigates: bool = True) -> None:
        self.count += 1
        if navigates:
            with self.page.expect_navigation():
                self.page.click(selector)
        else:
            self.page.click(selector)


def log_in(page: Any, base: str) -> None:
    page.goto(f"{base}/admin/login/?next=/admin/")
    page.fill("#id_username", "newcomer")
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("input[type=submit]")


def search_orders(page: Any, base: str, term: str) -> None:
    page.goto(f"{base}/admin/orders/project/")
    page.fill("#searchbar", term)
    with page.expect_navigation():
        page.press("#searchbar", "Enter")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)


def test_a_new_staff_member_fixes_two_failed_orders_from_the_order_page_alone(
    page, live_server, settings, httpserver
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    get_user_model().objects.create_superuser("newcomer", "newcomer@studio.example", PASSWORD)
    base = live_server.url

    # Order 1: the email in its brief is invalid (typed before validation was strict).
    camille = project_create(business_name="Fleurs de Camille", contact_email="camille@fleurs.example", language="en")
    Project.objects.filter(pk=camille.pk).update(contact_email="camille.fleurs.example")
    project_mark_paid(
        project_id=camille.id,
        checkout_session_id="cs_test_camille",
        amount_cents=settings.ORDER_PRICE_CENTS,
        currency=settings.ORDER_CURRENCY,
    )
    run_to_the_end()
    # Order 2: the AI provider is configured at an address where nothing answers.
    settings.LLM_BASE_URL = f"http://127.0.0.1:{closed_port()}/v1"
    settings.LLM_API_KEY = "sk-test-secret-key-0123456789"
    bruno = paid("Garage Bruno", "bruno@garage.example")
    run_to_the_end()
    for project in (camille, bruno):
        project.refresh_from_db()
        assert project.status == ProjectStatus.FAILED

    # The home page says what needs attention, with each failure's cause in words.
    log_in(page, base)
    attention = page.locator("#attention-failed + ul")
    expect(attention).to_contain_text("Fleurs de Camille")
    expect(attention).to_contain_text("The customer's brief is invalid (contact email)")
    expect(attention).to_contain_text("The AI copy provider is unreachable")
    page.screenshot(path=str(SHOTS / "home.png"), full_page=True)

    # --- Order 1: correct the email, save, replay: at most 4 clicks from the search result.
    search_orders(page, base, "Camille")
    click = Clicks(page)
    click("#result_list tbody tr a")
    problem = page.locator("#problem")
    expect(problem).to_contain_text("The customer's brief is invalid (contact email)")
    expect(problem).to_contain_text("The brief is still invalid")
    expect(page.locator(".field-status")).not_to_have_count(0)
    assert page.locator("input[name=status], select[name=status], input[name=slug], input[name=site_url]").count() == 0
    page.fill("#id_contact_email", "camille@fleurs.example")
    click("input[name=_continue]")
    expect(page.locator("#problem")).to_contain_text("The brief is valid now: replaying the failed steps can help.")
    click("button.act-replay_failed")
    expect(page.locator("#plan-summary")).to_contain_text("This will touch 1 workflow run")
    click("#confirm-act")
    assert click.count <= 4, click.count
    assert f"/admin/orders/project/{camille.pk}/change/" in page.url  # back on the order's page
    expect(page.locator("ul.messagelist")).to_contain_text("Fleurs de Camille")

    # --- Order 2: the cause in words on its page; fix the provider; replay.
    search_orders(page, base, "bruno@garage.example")
    page.click("#result_list tbody tr a")
    problem = page.locator("#problem")
    expect(problem).to_contain_text("Failed at step design")
    expect(problem).to_contain_text("The AI copy provider is unreachable")
    expect(problem).to_contain_text("LLM_BASE_URL")
    errors = page.locator(".timeline-errors tr.error-line")
    expect(errors).to_have_count(1)  # five identical attempts, one line
    expect(errors.first.locator(".attempts")).to_contain_text("5 attempts (1 to 5), same error")
    page.screenshot(path=str(SHOTS / "project.png"), full_page=True)

    fake = FakeOpenAI(httpserver)  # the provider back, at the address an operator corrects
    settings.LLM_BASE_URL, settings.LLM_API_KEY = fake.base_url, fake.api_key
    with page.expect_navigation():
        page.click("button.act-replay_failed")
    with page.expect_navigation():
        page.click("#confirm-act")
    assert f"/admin/orders/project/{bruno.pk}/change/" in page.url

    run_to_the_end()
    for project in (camille, bruno):
        project.refresh_from_db()
        assert project.status == ProjectStatus.DELIVERED, project
        assert project_latest_run(project).status == RunStatus.SUCCEEDED
    assert fake.requests, "the replayed design step called the provider"
    assert OperatorAction.objects.filter(actor_label="staff:newcomer").count() == 2

    page.goto(f"{base}/admin/orders/project/{bruno.pk}/change/")
    assert "Delivered" in page.inner_text(".field-status_badge")
    expect(page.locator("#problem")).to_have_count(0)  # nothing wrong any more
    marks = page.locator("svg[aria-label='Task timeline'] g.act-mark")
    expect(marks).to_have_count(1)  # where the replay happened
    expect(marks.first).to_contain_text("Replay from failed steps")

    # The dashboard: readable text, the failures gone from its lists.
    page.goto(f"{base}/admin/metrics/rollup/dashboard/?period=hour")
    expect(page.locator("svg.chart")).to_have_count(7)
    smallest = page.evaluate(
        """() => Math.min(...[...document.querySelectorAll('svg.chart text')].map(t => {
            const svg = t.ownerSVGElement;
            const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
            return parseFloat(getComputedStyle(t).fontSize) * scale;
        }))"""
    )
    assert smallest >= 11, f"the smallest chart text renders at {smallest:.1f} px"
    expect(page.locator(".act-lists")).not_to_contain_text("Fleurs de Camille")
    page.screenshot(path=str(SHOTS / "dashboard.png"), full_page=True)
    for shot in ("home.png", "project.png", "dashboard.png"):
        assert (SHOTS / shot).stat().st_size > 10_000
