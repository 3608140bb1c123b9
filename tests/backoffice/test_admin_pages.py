"""The admin pages answer "where is order X, what broke" for staff, and only for staff."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from metrics.models import ErrorGroup
from orchestration.models import AgentRun, Task
from orders.models import Project


def test_every_model_of_the_back_office_apps_has_an_admin():
    for label in ("orchestration", "orders", "metrics"):
        for model in apps.get_app_config(label).get_models():
            assert admin.site.is_registered(model), f"{model.__name__} has no admin"


def test_project_list_shows_badge_progress_and_links_and_finds_by_email(staff_client, failed_order, delivered_order):
    project, run = failed_order
    page = staff_client.get(reverse("admin:orders_project_changelist"), {"q": "alice@bakery.example"}).content.decode()
    assert "Alice&#x27;s Bakery" in page and "Bob" not in page
    assert 'class="badge badge-failed"' in page
    assert "2/4" in page  # a and b succeeded
    assert reverse("status-page", args=[project.status_token]) in page
    assert reverse("admin:orchestration_workflowrun_change", args=[run.pk]) in page


@pytest.mark.parametrize("term", ["slug", "project id", "run id"])
def test_project_search_finds_an_order_by_slug_or_ids(staff_client, failed_order, delivered_order, term):
    project, run = failed_order
    value = {"slug": "alice", "project id": str(project.pk), "run id": str(run.pk)}[term]
    page = staff_client.get(reverse("admin:orders_project_changelist"), {"q": value}).content.decode()
    assert "Alice&#x27;s Bakery" in page and "Bob&#x27;s Garage" not in page


def test_an_order_past_its_25_minutes_stands_out_and_is_filtered_as_late(staff_client, clock, failed_order):
    project, _ = failed_order
    Project.objects.filter(pk=project.pk).update(status="in_progress", paid_at=clock.now() - timedelta(minutes=31))
    url = reverse("admin:orders_project_changelist")
    page = staff_client.get(url, {"slo": "late"}).content.decode()
    assert '<span class="late">31.0 / 25 min late</span>' in page
    assert "Alice" in staff_client.get(url, {"slo": "late"}).content.decode()
    assert "Alice" not in staff_client.get(url, {"slo": "on_time"}).content.decode()


def test_run_page_draws_each_attempt_as_a_bar_coloured_by_outcome_with_its_error(staff_client, failed_order):
    _, run = failed_order
    page = staff_client.get(reverse("admin:orchestration_workflowrun_change", args=[run.pk])).content.decode()
    assert "<svg" in page and 'aria-label="Task timeline"' in page
    attempts = AgentRun.objects.filter(run=run).count()
    assert page.count('<rect class="bar-') == attempts == 3  # a, b succeeded; c failed (d never ran)
    assert 'data-outcome="failed"' in page
    assert "PermanentError: flag missing" in page
    assert "Replay failed steps" in page  # the buttons to act from here


def test_task_page_pretty_prints_its_json(staff_client, failed_order):
    _, run = failed_order
    task = Task.objects.get(run=run, step="a")
    page = staff_client.get(reverse("admin:orchestration_task_change", args=[task.pk])).content.decode()
    assert '<pre class="json">{\n  &quot;flag&quot;' in page


def test_agent_runs_are_read_only(staff_client, failed_order):
    attempt = AgentRun.objects.first()
    url = reverse("admin:orchestration_agentrun_change", args=[attempt.pk])
    page = staff_client.get(url).content.decode()
    assert 'name="_save"' not in page
    assert staff_client.get(reverse("admin:orchestration_agentrun_add")).status_code == 403


def test_campaign_csv_link_appears_and_downloads_only_when_the_ads_output_has_one(staff_client, delivered_order):
    project, run = delivered_order
    url = reverse("admin:orders_project_campaign_csv", args=[project.pk])
    change = reverse("admin:orders_project_change", args=[project.pk])
    assert staff_client.get(url).status_code == 404
    assert "campaign CSV" not in staff_client.get(change).content.decode()
    Task.objects.filter(run=run, step="c").update(step="campaign", output={"csv": "Campaign,Keyword\nBob,garage\n"})
    assert "campaign CSV" in staff_client.get(change).content.decode()
    response = staff_client.get(url)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response.content == b"Campaign,Keyword\nBob,garage\n"
    assert 'filename="bob-campaign.csv"' in response["Content-Disposition"]


def test_campaign_csv_and_admin_pages_refuse_non_staff(client, outsider, delivered_order):
    project, _ = delivered_order
    client.force_login(outsider)
    for url in (
        reverse("admin:orders_project_campaign_csv", args=[project.pk]),
        reverse("admin:orders_project_changelist"),
        reverse("admin:metrics_dashboard"),
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], url


def test_error_groups_show_count_traceback_and_links(staff_client, failed_order):
    group = ErrorGroup.objects.get()
    page = staff_client.get(reverse("admin:metrics_errorgroup_change", args=[group.pk])).content.decode()
    assert "PermanentError" in page and "run timeline" in page and "project" in page
