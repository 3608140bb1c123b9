"""The dashboard: offline SVG charts of the rollups and of the live window, exact figures on a
known data set, late and failed orders, auto-refresh."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse

from metrics.rollups import rollup
from orchestration.models import AttemptOutcome, RunStatus, WorkflowRun
from orders.models import Project
from tests.integration.backoffice.test_rollups import attempts
from tests.support.factories import order_run, paid_order

URL = reverse("admin:metrics_dashboard")
CHARTS = 7  # throughput, error rate, queue depth, oldest waiting, within SLO, per agent, per action


def cells(page: str, table: str, name: str) -> dict[str, str]:
    """The p50/p95/p99 cells of one row of a duration table."""
    body = page.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    row = body.split(f'data-name="{name}"', 1)[1].split("</tr>", 1)[0]
    return {q: re.search(rf'class="{q}">([^<]*)<', row).group(1) for q in ("p50", "p95", "p99")}


def figure(page: str, element_id: str) -> str:
    return re.search(rf'id="{element_id}">([^<]*)<', page).group(1)


@pytest.mark.parametrize("period", ["hour", "day", "week"])
def test_dashboard_draws_svg_charts_without_any_external_resource(staff_client, clock, period):
    clock.advance(60)
    attempts(clock, "design-ia.generate", [120.0, 240.0])
    clock.advance(300)
    rollup()
    page = staff_client.get(URL, {"period": period}).content.decode()
    assert page.count('<svg class="chart"') == CHARTS
    assert "<polyline" in page or "<circle" in page
    assert "design-ia.generate" in page
    assert '<meta http-equiv="refresh" content="60">' in page
    assert "https://" not in page and '<script src="http' not in page


def test_an_order_is_on_the_dashboard_at_once_labelled_live_before_any_rollup(staff_client, clock, tmp_path):
    clock.advance(90)  # 09:01:30, in the window under way
    flag = tmp_path / "flag"
    flag.touch()
    order_run(flag)  # a, b, c, d succeed: four attempts, no rollup has run
    page = staff_client.get(URL).content.decode()
    assert figure(page, "figure-attempts") == "4"
    assert "no data yet" not in page.split('aria-label="Agent calls finished"', 1)[1].split("</svg>", 1)[0]
    assert "The minutes since 09:00 UTC (up to 09:01:30) are counted live" in page
    assert page.count('class="chart-live"') == 5  # every chart over time shades its live part
    assert "Figures for the last hour" in page
    assert cells(page, "agent-durations", "engine")["p50"] != "-"
    assert figure(page, "figure-within-slo") == "100% (1/1)"


def test_dashboard_figures_on_a_known_data_set_are_exact(staff_client, clock):
    clock.advance(60)  # 09:01, rolled up below
    attempts(clock, "design-ia.generate", [float(ms) for ms in range(10, 101, 10)])  # 10, 20, ... 100
    attempts(clock, "automation.build", [15.0, 25.0])
    attempts(clock, "automation.deploy", [35.0], outcome=AttemptOutcome.FAILED)
    on_time = paid_order(email="a@example.com", name="On time", slug="on-time")
    Project.objects.filter(pk=on_time.pk).update(
        status="delivered", paid_at=clock.now() - timedelta(minutes=12), delivered_at=clock.now()
    )
    late = paid_order(email="b@example.com", name="Late", slug="late")
    Project.objects.filter(pk=late.pk).update(
        status="delivered", paid_at=clock.now() - timedelta(minutes=31), delivered_at=clock.now()
    )
    for seconds in (120, 600, 300):
        run = WorkflowRun.objects.create(
            workflow="order", version=1, definition={}, status=RunStatus.SUCCEEDED, finished_at=clock.now()
        )
        WorkflowRun.objects.filter(pk=run.pk).update(created_at=clock.now() - timedelta(seconds=seconds))
    clock.advance(300)  # 09:06
    rollup()  # the 09:00 window is stored
    attempts(clock, "design-ia.generate", [12.0, 14.0])  # in the live 09:05 window

    page = staff_client.get(URL).content.decode()

    # design-ia: 10, 12, 14, 20, ..., 100 (12 values): nearest rank 6 is 40, rank 12 is 100.
    assert cells(page, "agent-durations", "design-ia") == {"p50": "40", "p95": "100", "p99": "100"}
    assert cells(page, "agent-durations", "automation") == {"p50": "25", "p95": "35", "p99": "35"}
    assert cells(page, "action-durations", "automation.build") == {"p50": "15", "p95": "25", "p99": "25"}
    assert figure(page, "figure-attempts") == "15"
    assert figure(page, "figure-error-rate") == "6.67%"  # 1 failed of 15
    assert figure(page, "figure-within-slo") == "50% (1/2)"
    assert figure(page, "figure-workflow") == "5.0 min / 10.0 min"  # runs of 2, 5 and 10 minutes
    assert "typical 40 / slow 100 ms" in page  # the per-agent bars say the same (p50 / p95)
    assert "The minutes since 09:05 UTC" in page  # the stored 09:00 window is not live


def test_dashboard_lists_late_and_failed_orders_with_links(staff_client, clock, failed_order):
    failed, _ = failed_order
    late = Project.objects.create(
        business_name="Late Cafe",
        contact_email="late@example.com",
        status="in_progress",
        paid_at=clock.now() - timedelta(minutes=40),
    )
    page = staff_client.get(URL).content.decode()
    assert reverse("admin:orders_project_change", args=[late.pk]) in page
    assert reverse("admin:orders_project_change", args=[failed.pk]) in page


def chart_labels(page: str, title: str) -> list[str]:
    svg = page.split(f'aria-label="{title}"', 1)[1].split("</svg>", 1)[0]
    return re.findall(r'class="chart-axis" text-anchor="(?:start|middle|end)">([^<]+)<', svg)


def test_a_week_view_with_one_hour_of_data_draws_that_hour_across_the_chart(staff_client, clock):
    clock.advance(60)
    attempts(clock, "design-ia.generate", [120.0, 240.0])
    clock.advance(300)
    rollup()
    attempts(clock, "design-ia.generate", [80.0])

    page = staff_client.get(URL, {"period": "week"}).content.decode()

    labels = chart_labels(page, "Agent calls finished")
    week_ago = (clock.now() - timedelta(days=7)).strftime("%d %b")
    assert labels and not any(week_ago in label for label in labels), labels
    # The time axis (after the two value labels): 12 windows of 5 minutes up to now (09:06), not a week of hours.
    assert labels[-3:] == ["08:05", "08:35", "09:05"], labels
    assert "the charts start at the first data" in page


def test_the_lists_staff_act_on_come_before_the_charts_and_tables(staff_client, clock, failed_order):
    page = staff_client.get(URL).content.decode()
    failed_at = page.index('id="dashboard-failed"')
    assert failed_at < page.index('<svg class="chart"') < page.index('id="agent-durations"')
    failed = page.split('id="dashboard-failed"', 1)[1].split("</ul>", 1)[0]
    assert "step c" in failed and "does not recognise" in failed  # the cause in words, not the exception
