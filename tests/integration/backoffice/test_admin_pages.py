"""The admin pages answer "where is order X, what broke" for staff, and only for staff."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from agents.models import SideEffect
from gateway.models import EventStatus
from metrics.models import ErrorGroup
from orchestration.models import AgentRun, AttemptOutcome, RunStatus, Task, TaskStatus
from orchestration.services import Actor, run_replay
from orders.models import Project, ProjectStatus

OUR_APPS = ("orchestration", "orders", "agents", "metrics", "gateway")
OUR_MODELS = [model for label in OUR_APPS for model in apps.get_app_config(label).get_models()]
CSS = (Path(settings.BASE_DIR) / "metrics/static/metrics/backoffice.css").read_text()


def css_rules() -> list[tuple[list[str], str]]:
    """(selectors, declarations) of every rule of the back office's stylesheet."""
    return [
        ([sel.strip() for sel in selectors.split(",")], body)
        for selectors, body in re.findall(r"([^{}]+)\{([^}]*)\}", re.sub(r"/\*.*?\*/", "", CSS, flags=re.S))
    ]


def test_the_guard_sees_every_app_of_ours():
    assert {m._meta.app_label for m in OUR_MODELS} == set(OUR_APPS)
    assert "SideEffect" in {m.__name__ for m in OUR_MODELS}


@pytest.mark.parametrize("model", OUR_MODELS, ids=lambda m: m._meta.label)
def test_every_model_of_our_apps_has_an_admin_whose_list_opens_for_staff(staff_client, model):
    assert admin.site.is_registered(model), f"{model._meta.label} has no admin"
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    assert staff_client.get(url).status_code == 200, url
    assert staff_client.get(url, {"q": "anything"}).status_code == 200, f"{url} search"


@pytest.mark.parametrize(
    "choices", [RunStatus, TaskStatus, AttemptOutcome, ProjectStatus, EventStatus, SideEffect.Status]
)
def test_every_status_has_a_coloured_badge(choices):
    styled = {sel for selectors, body in css_rules() if "background" in body for sel in selectors}
    missing = [value for value in choices.values if f".badge-{value}" not in styled]
    assert not missing, f"no .badge-<status> colour for {missing}"


def test_every_timeline_legend_swatch_is_visible():
    # The legend's swatches are HTML <i> elements: `fill` does nothing there, `background` does.
    for outcome in AttemptOutcome.values:
        rules = [body for selectors, body in css_rules() if f".bar-{outcome}" in selectors]
        assert rules, f"no .bar-{outcome} rule"
        assert any(re.search(r"(^|;)\s*fill:", b) for b in rules), f".bar-{outcome} has no fill (SVG bar)"
        assert any(re.search(r"(^|;)\s*background:", b) for b in rules), f".bar-{outcome} has no background"


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


def test_a_failed_order_is_not_shown_late_and_its_clock_stopped_when_its_run_ended(staff_client, clock, failed_order):
    project, _ = failed_order
    Project.objects.filter(pk=project.pk).update(paid_at=clock.now() - timedelta(minutes=40))
    clock.advance(3600)  # an hour later, the failed order is still "40 minutes"
    row = staff_client.get(reverse("admin:orders_project_changelist")).content.decode()
    assert "failed after 40.0 min" in row
    assert 'class="late"' not in row.split('id="result_list"')[1]
    assert staff_client.get(reverse("admin:orders_project_changelist"), {"slo": "late"}).context["cl"].result_count == 0


def test_an_order_delivered_after_its_25_minutes_says_so_without_standing_out_as_late(
    staff_client, clock, delivered_order
):
    project, _ = delivered_order
    Project.objects.filter(pk=project.pk).update(paid_at=clock.now() - timedelta(minutes=30), delivered_at=clock.now())
    page = staff_client.get(reverse("admin:orders_project_changelist")).content.decode()
    assert "30.0 / 25 min (over the SLO)" in page
    assert 'class="late"' not in page.split('id="result_list"')[1]


def test_run_page_draws_each_attempt_as_a_bar_coloured_by_outcome_with_its_error(staff_client, failed_order):
    _, run = failed_order
    page = staff_client.get(reverse("admin:orchestration_workflowrun_change", args=[run.pk])).content.decode()
    assert "<svg" in page and 'aria-label="Task timeline"' in page
    attempts = AgentRun.objects.filter(run=run).count()
    assert page.count('<rect class="bar-') == attempts == 3  # a, b succeeded; c failed (d never ran)
    assert 'data-outcome="failed"' in page
    assert "PermanentError: flag missing" in page


def run_buttons(client, run) -> list[str]:
    page = client.get(reverse("admin:orchestration_workflowrun_change", args=[run.pk])).content.decode()
    return re.findall(r'<input type="hidden" name="action" value="(\w+)">', page)


def test_run_page_offers_only_the_acts_its_state_allows(staff_client, failed_order, delivered_order):
    _, failed = failed_order
    _, delivered = delivered_order
    assert run_buttons(staff_client, failed) == ["replay_failed", "replay_from_step", "replay_scratch"]
    assert run_buttons(staff_client, delivered) == []
    run_replay(run=failed, actor=Actor(label="test"), mode="failed")
    assert run_buttons(staff_client, failed) == ["cancel_runs"]


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
    assert not LogEntry.objects.exists()
    response = staff_client.get(url)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    entry = LogEntry.objects.get()
    assert (entry.user.username, entry.object_id) == ("root", str(project.pk))
    assert entry.get_change_message() == "Downloaded the campaign CSV (28 bytes)"
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


def test_the_side_effect_ledger_is_listed_with_its_project_and_read_only(staff_client, delivered_order):
    project, run = delivered_order
    task = Task.objects.get(run=run, step="a")
    effect = SideEffect.objects.create(
        key=f"{task.idempotency_key}:email:payment_received",
        kind="email:payment_received",
        subject=project,
        task_id=task.pk,
        status=SideEffect.Status.DONE,
        performed=1,
        result={"to": "bob@garage.example"},
    )
    listing = staff_client.get(reverse("admin:orchestration_sideeffect_changelist"), {"q": "bob@garage.example"})
    page = listing.content.decode()
    assert "email:payment_received" in page and 'class="badge badge-done"' in page
    assert reverse("admin:orders_project_change", args=[project.pk]) in page
    assert reverse("admin:orchestration_task_change", args=[task.pk]) in page
    change = staff_client.get(reverse("admin:orchestration_sideeffect_change", args=[effect.pk])).content.decode()
    assert 'name="_save"' not in change and "&quot;to&quot;: &quot;bob@garage.example&quot;" in change
    assert staff_client.get(reverse("admin:orchestration_sideeffect_add")).status_code == 403
    assert (
        staff_client.post(
            reverse("admin:orchestration_sideeffect_delete", args=[effect.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert SideEffect.objects.filter(pk=effect.pk).exists()


def test_the_ledgers_old_admin_address_redirects_to_the_engines(staff_client):
    response = staff_client.get("/admin/agents/sideeffect/12/change/?q=x")
    assert response.status_code == 302
    assert response["Location"] == "/admin/orchestration/sideeffect/12/change/?q=x"
