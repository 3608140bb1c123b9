"""The dashboard: offline SVG charts of the rollups, late and failed orders, auto-refresh."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from metrics.rollups import rollup
from orders.models import Project
from tests.backoffice.test_rollups import attempts

URL = reverse("admin:metrics_dashboard")


@pytest.mark.parametrize("period", ["hour", "day", "week"])
def test_dashboard_draws_svg_charts_without_any_external_resource(staff_client, clock, period):
    clock.advance(60)
    attempts(clock, "design-ia.generate", [120.0, 240.0])
    clock.advance(300)
    rollup()
    page = staff_client.get(URL, {"period": period}).content.decode()
    assert page.count('<svg class="chart"') == 5
    assert "<polyline" in page or "<circle" in page
    assert "design-ia.generate" in page
    assert '<meta http-equiv="refresh" content="60">' in page
    assert "https://" not in page and '<script src="http' not in page


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
