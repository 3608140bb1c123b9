"""Staff fix a failed order in a real browser: find it by email, read its timeline,
replay it from the admin, see it delivered. A customer account is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from orchestration.models import RunStatus
from orders.models import ProjectStatus
from tests.support.factories import drain, order_run

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = pytest.mark.slow
PASSWORD = "correct-horse-battery-9"


def log_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("input[type=submit]")


def test_staff_find_a_failed_order_by_email_replay_it_and_see_it_delivered(page, live_server, tmp_path: Path):
    get_user_model().objects.create_superuser("ops", "ops@studio.example", PASSWORD)
    flag = tmp_path / "flag"
    project, run = order_run(flag, email="camille@fleurs.example", name="Fleurs de Camille", slug="fleurs")
    order_run(tmp_path / "other", email="other@example.com", name="Other Shop", slug="other")
    assert project.status == ProjectStatus.FAILED

    log_in(page, live_server.url, "ops")
    page.click("text=Projects")
    page.fill("#searchbar", "camille@fleurs.example")
    page.press("#searchbar", "Enter")
    expect(page.locator("#changelist-search")).to_contain_text("1 result")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    assert "Failed" in rows.first.inner_text() and "2/4" in rows.first.inner_text()
    page.screenshot(path=str(tmp_path / "project-list.png"), full_page=True)

    rows.first.locator("a", has_text="timeline").click()
    expect(page.locator("svg[aria-label='Task timeline'] rect[data-outcome='failed']")).to_have_count(1)
    assert "flag missing" in page.content()
    # The legend's swatches are drawn (a colour, not a transparent box).
    swatch = page.locator(".legend i.bar-failed")
    assert swatch.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(220, 38, 38)"
    expect(page.locator("button:has-text('Cancel run')")).to_have_count(0)  # a failed run cannot be cancelled
    page.screenshot(path=str(tmp_path / "timeline.png"), full_page=True)

    page.click("button:has-text('Replay failed steps')")
    expect(page.locator("#plan-summary")).to_contain_text("This will touch 1 workflow run (2 steps)")
    flag.touch()  # the fix: step c can succeed now
    page.click("#confirm-act")
    expect(page.locator("ul.messagelist")).to_contain_text("done for 1 of 1")

    drain()  # the engine's tick, as the cron or a worker would run it
    page.goto(f"{live_server.url}/admin/orders/project/{project.pk}/change/")
    assert "Delivered" in page.inner_text(".field-status_badge")
    assert "4/4" in page.inner_text(".field-progress")
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED

    # The dashboard after real attempts (8: a, b, c of both orders, then c and d replayed),
    # before any cron: the window under way is computed live, so the charts have data.
    page.goto(f"{live_server.url}/admin/metrics/rollup/dashboard/?period=hour")
    expect(page.locator("svg.chart")).to_have_count(7)
    expect(page.locator("#figure-attempts")).to_have_text("8")
    expect(page.locator("#data-sources")).to_contain_text("counted live")
    throughput = page.locator("svg[aria-label='Agent calls finished']")
    expect(throughput.locator("polyline, circle")).not_to_have_count(0)
    expect(throughput.locator("rect.chart-live")).to_have_count(1)
    expect(page.locator("#agent-durations tr[data-name='engine'] td.p50")).not_to_have_text("-")
    expect(page.locator("#figure-within-slo")).to_have_text("100% (1/1)")
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    for shot in ("project-list.png", "timeline.png", "dashboard.png"):
        assert (tmp_path / shot).stat().st_size > 10_000


def test_a_customer_account_is_refused_by_the_admin(page, live_server):
    get_user_model().objects.create_user("customer", "c@example.com", PASSWORD)
    log_in(page, live_server.url, "customer")
    expect(page.locator("#content")).to_contain_text("for a staff account")
    page.goto(f"{live_server.url}/admin/orders/project/")
    assert "/admin/login/" in page.url
