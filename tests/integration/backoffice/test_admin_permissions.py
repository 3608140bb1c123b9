"""Who may act: a staff member with view permissions only sees the back office but cannot replay,
cancel, retry, resolve, mute or reprocess (not by the buttons, which are hidden, nor by a crafted
POST); a staff member with no permission sees no order, customer or figure on the home page or the
dashboard. Acting takes the model's change permission (`orchestration.change_workflowrun`, ...)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from gateway.models import EventSource, EventStatus, WebhookEvent
from metrics.models import ErrorGroup, GroupStatus
from orchestration.models import OperatorAction, RunStatus, Task, TaskStatus
from orchestration.services import Actor, run_replay

RUNS = reverse("admin:orchestration_workflowrun_changelist")
VIEW = (
    "orders.view_project",
    "orchestration.view_workflowrun",
    "orchestration.view_task",
    "metrics.view_errorgroup",
    "metrics.view_rollup",
    "gateway.view_webhookevent",
)


def staff_with(*perms: str, username: str = "viewer") -> Client:
    user = get_user_model().objects.create_user(username, f"{username}@studio.example", "pw-view-123", is_staff=True)
    for perm in perms:
        app, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=codename))
    client = Client()
    client.force_login(user)
    return client


def act(client: Client, url: str, action: str, pk: object) -> None:
    client.post(url, {"action": action, "_selected_action": [str(pk)], "confirm": "yes"})


@pytest.mark.parametrize("action", ["replay_failed", "replay_scratch", "replay_from_step"])
def test_a_view_only_staff_member_cannot_replay(failed_order, flag, action):
    _, run = failed_order
    flag.touch()
    act(staff_with(*VIEW), RUNS, action, run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and not OperatorAction.objects.exists()


def test_a_view_only_staff_member_cannot_cancel(failed_order, flag):
    _, run = failed_order
    flag.touch()
    run_replay(run=run, actor=Actor(label="test"), mode="failed")
    act(staff_with(*VIEW), RUNS, "cancel_runs", run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING


def test_a_view_only_staff_member_cannot_retry_a_task(failed_order):
    _, run = failed_order
    dead = Task.objects.get(run=run, status=TaskStatus.DEAD)
    act(staff_with(*VIEW), reverse("admin:orchestration_task_changelist"), "retry_now", dead.pk)
    dead.refresh_from_db()
    assert dead.status == TaskStatus.DEAD


@pytest.mark.parametrize("action", ["resolve", "mute"])
def test_a_view_only_staff_member_cannot_resolve_or_mute(failed_order, action):
    group = ErrorGroup.objects.get()
    act(staff_with(*VIEW), reverse("admin:metrics_errorgroup_changelist"), action, group.pk)
    group.refresh_from_db()
    assert group.status == GroupStatus.OPEN


def test_a_view_only_staff_member_cannot_reprocess_a_payment(db):
    event = WebhookEvent.objects.create(
        source=EventSource.STRIPE,
        external_id="evt_1",
        type="checkout.session.completed",
        payload={},
        status=EventStatus.REJECTED,
        outcome="unknown_project: x",
        received_at=timezone.now(),
    )
    act(staff_with(*VIEW), reverse("admin:gateway_webhookevent_changelist"), "reprocess", event.pk)
    event.refresh_from_db()
    assert (event.status, event.attempts) == (EventStatus.REJECTED, 0)


def test_a_view_only_staff_member_sees_no_act_button(failed_order):
    project, run = failed_order
    client = staff_with(*VIEW)
    pages = [
        reverse("admin:orders_project_change", args=[project.pk]),
        reverse("admin:orchestration_workflowrun_change", args=[run.pk]),
        reverse("admin:metrics_errorgroup_change", args=[ErrorGroup.objects.get().pk]),
    ]
    for url in pages:
        page = client.get(url)
        assert page.status_code == 200, url
        assert 'name="action"' not in page.content.decode(), url


def test_the_change_permission_lets_staff_act(failed_order, flag):
    _, run = failed_order
    flag.touch()
    # The API's permissions for a replay (gateway.permissions.CanActOnRuns): the run's and its tasks'.
    client = staff_with(*VIEW, "orchestration.change_workflowrun", "orchestration.change_task", username="operator")
    page = client.get(reverse("admin:orders_project_change", args=[failed_order[0].pk])).content.decode()
    assert "act-replay_failed" in page
    act(client, RUNS, "replay_failed", run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING and OperatorAction.objects.count() == 1


def test_changing_runs_alone_does_not_let_staff_replay(failed_order, flag):
    """A replay resets the run's tasks: like the API, it takes the tasks' change permission too."""
    _, run = failed_order
    flag.touch()
    act(staff_with(*VIEW, "orchestration.change_workflowrun"), RUNS, "replay_failed", run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED


def test_staff_without_permissions_see_no_order_on_home_nor_the_dashboard(failed_order):
    project, _ = failed_order
    client = staff_with()
    home = client.get(reverse("admin:index"))
    assert home.status_code == 200
    assert project.contact_email not in home.content.decode()
    assert "Fix and replay" not in home.content.decode()
    assert client.get(reverse("admin:metrics_dashboard")).status_code == 403


def test_the_dashboard_lists_orders_only_to_staff_who_may_view_them(failed_order):
    project, _ = failed_order
    page = staff_with("metrics.view_rollup").get(reverse("admin:metrics_dashboard"))
    assert page.status_code == 200
    assert project.contact_email not in page.content.decode()
