"""Admin actions call the engine: confirmed first, recorded with the user, refusals per object."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from orchestration.models import OperatorAction, RunStatus, Task, TaskStatus
from orchestration.services import Actor, run_cancel, run_replay, run_start
from orders.models import ProjectStatus
from tests.support.factories import drain

RUNS = reverse("admin:orchestration_workflowrun_changelist")
TASKS = reverse("admin:orchestration_task_changelist")


def post_action(client, url, action, ids, **extra):
    data = {"action": action, "_selected_action": [str(i) for i in ids], **extra}
    return client.post(url, data, follow=True)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_replay_asks_for_confirmation_showing_runs_and_steps_before_acting(staff_client, failed_order):
    _, run = failed_order
    response = post_action(staff_client, RUNS, "replay_failed", [run.pk])
    page = response.content.decode()
    assert "This will touch 1 workflow run (2 steps)" in page
    assert "c, d" in page
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert not OperatorAction.objects.exists()


def test_confirmed_replay_reruns_failed_steps_records_the_user_and_delivers(
    superuser, staff_client, failed_order, flag
):
    project, run = failed_order
    flag.touch()
    response = post_action(staff_client, RUNS, "replay_failed", [run.pk], confirm="yes")
    assert any("done for 1 of 1" in m for m in messages_of(response))
    act = OperatorAction.objects.get()
    assert (act.actor, act.verb, act.run_id) == (superuser, OperatorAction.Verb.REPLAY_FAILED, run.pk)
    assert LogEntry.objects.filter(user=superuser, object_id=str(run.pk), change_message__contains="c, d").exists()
    drain()
    run.refresh_from_db()
    project.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert project.status == ProjectStatus.DELIVERED


def test_replay_of_a_running_run_is_refused_and_changes_nothing(staff_client, failed_order, flag):
    _, run = failed_order
    flag.touch()
    post_action(staff_client, RUNS, "replay_failed", [run.pk], confirm="yes")  # now running again
    run.refresh_from_db()
    generation = run.generation
    response = post_action(staff_client, RUNS, "replay_failed", [run.pk])
    assert "will be refused" in response.content.decode()
    response = post_action(staff_client, RUNS, "replay_scratch", [run.pk], confirm="yes")
    assert any("refused, nothing changed" in m and "running" in m for m in messages_of(response))
    run.refresh_from_db()
    assert (run.status, run.generation) == (RunStatus.RUNNING, generation)
    assert OperatorAction.objects.count() == 1


def test_replay_of_a_delivered_run_is_refused(staff_client, delivered_order):
    project, run = delivered_order
    response = post_action(staff_client, RUNS, "replay_scratch", [run.pk], confirm="yes")
    assert any("succeeded; only a failed or cancelled run" in m for m in messages_of(response))
    run.refresh_from_db()
    project.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and project.status == ProjectStatus.DELIVERED
    assert not OperatorAction.objects.exists() and not LogEntry.objects.exists()


def test_bulk_replay_acts_on_the_failed_and_reports_each_refusal(staff_client, failed_order, delivered_order):
    _, failed = failed_order
    _, delivered = delivered_order
    response = post_action(staff_client, RUNS, "replay_failed", [failed.pk, delivered.pk], confirm="yes")
    notes = messages_of(response)
    assert any(str(delivered.pk) in m and "refused" in m for m in notes)
    assert any("done for 1 of 2" in m for m in notes)
    failed.refresh_from_db()
    delivered.refresh_from_db()
    assert failed.status == RunStatus.RUNNING and delivered.status == RunStatus.SUCCEEDED


def test_bulk_replay_over_a_status_filter_touches_only_the_filtered_runs(staff_client, failed_order, delivered_order):
    _, failed = failed_order
    response = staff_client.post(
        RUNS + "?status__exact=failed",
        {"action": "replay_failed", "select_across": "1", "index": "0", "_selected_action": [str(failed.pk)]},
    )
    assert "This will touch 1 workflow run" in response.content.decode()


def test_replay_from_a_chosen_step_shows_that_steps_plan_then_resets_it(staff_client, failed_order, flag):
    _, run = failed_order
    preview = post_action(staff_client, RUNS, "replay_from_step", [run.pk], from_step="a", preview="1")
    assert "This will touch 1 workflow run (3 steps)" in preview.content.decode()  # a, c, d
    flag.touch()
    post_action(staff_client, RUNS, "replay_from_step", [run.pk], from_step="a", confirm="yes")
    assert OperatorAction.objects.get().detail["steps"] == ["a", "c", "d"]
    assert Task.objects.get(run=run, step="b").status == TaskStatus.SUCCEEDED  # kept, not rerun


def test_cancel_stops_a_running_run_and_refuses_a_cancelled_one(superuser, staff_client, failed_order, flag):
    project, run = failed_order
    post_action(staff_client, RUNS, "replay_failed", [run.pk], confirm="yes")
    confirm = post_action(staff_client, RUNS, "cancel_runs", [run.pk])
    assert "This will touch 1 workflow run (2 steps)" in confirm.content.decode()  # c queued, d waiting
    post_action(staff_client, RUNS, "cancel_runs", [run.pk], confirm="yes")
    run.refresh_from_db()
    project.refresh_from_db()
    assert run.status == RunStatus.CANCELLED and project.status == ProjectStatus.CANCELLED
    assert OperatorAction.objects.filter(verb=OperatorAction.Verb.CANCEL_RUN, actor=superuser).count() == 1
    again = post_action(staff_client, RUNS, "cancel_runs", [run.pk], confirm="yes")
    assert any("cancelled; only a running run can be cancelled" in m for m in messages_of(again))
    assert OperatorAction.objects.filter(verb=OperatorAction.Verb.CANCEL_RUN).count() == 1


def test_retry_task_now_gives_a_dead_task_fresh_attempts(superuser, staff_client, failed_order, flag):
    _, run = failed_order
    dead = Task.objects.get(run=run, step="c")
    confirm = post_action(staff_client, TASKS, "retry_now", [dead.pk])
    assert "This will touch 1 task (1 step)" in confirm.content.decode()
    flag.touch()
    post_action(staff_client, TASKS, "retry_now", [dead.pk], confirm="yes")
    dead.refresh_from_db()
    assert (dead.status, dead.attempts_spent) == (TaskStatus.QUEUED, 0)  # a fresh set; attempt numbers go on
    assert OperatorAction.objects.get().actor == superuser
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED


def test_retry_of_a_succeeded_task_is_refused_and_changes_nothing(staff_client, delivered_order):
    _, run = delivered_order
    done = Task.objects.get(run=run, step="c")
    response = post_action(staff_client, TASKS, "retry_now", [done.pk], confirm="yes")
    assert any("refused, nothing changed" in m for m in messages_of(response))
    done.refresh_from_db()
    assert done.status == TaskStatus.SUCCEEDED and not OperatorAction.objects.exists()


def test_actions_are_not_open_to_non_staff(client, outsider, failed_order):
    _, run = failed_order
    client.force_login(outsider)
    response = client.post(RUNS, {"action": "replay_failed", "_selected_action": [str(run.pk)], "confirm": "yes"})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED


# --- Wrong states: a clear refusal, and not one row changed --------------------------------


@pytest.fixture
def running_run(failed_order):
    """The failed order replayed while its cause is not fixed: c queued again, d waiting."""
    _, run = failed_order
    run_replay(run=run, actor=Actor(label="test"), mode="failed")
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    return run


@pytest.fixture
def cancelled_run(running_run):
    run_cancel(run=running_run, actor=Actor(label="test"))
    running_run.refresh_from_db()
    return running_run


def refused_without_change(client, url, action, obj, db_rows, expected, **extra):
    """The confirmation page shows the refusal; confirming it changes no row and says why."""
    before = db_rows()
    page = post_action(client, url, action, [obj.pk], **extra).content.decode()
    assert "This will touch 0 " in page and "1 will be refused and left unchanged" in page
    assert 'id="confirm-act" disabled' in page
    notes = messages_of(post_action(client, url, action, [obj.pk], confirm="yes", **extra))
    assert len(notes) == 1 and "refused, nothing changed" in notes[0] and expected in notes[0], notes
    assert db_rows() == before


@pytest.fixture
def succeeded_run(delivered_order):
    return delivered_order[1]


# Each state's fixture alone: making a second order would drain the queue, and with it the
# running run's queued step.
@pytest.mark.parametrize("state", ["running", "succeeded"])
def test_replay_from_a_step_is_refused_on_a_running_or_succeeded_run(request, staff_client, db_rows, state):
    run = request.getfixturevalue(f"{state}_run")
    expected = f"Run {run.pk} is {state}; only a failed or cancelled run can be replayed"
    refused_without_change(staff_client, RUNS, "replay_from_step", run, db_rows, expected, from_step="a")


@pytest.mark.parametrize("state", ["succeeded", "failed", "cancelled"])
def test_cancel_is_refused_on_a_run_that_is_not_running(request, staff_client, db_rows, state):
    run = request.getfixturevalue("failed_order")[1] if state == "failed" else request.getfixturevalue(f"{state}_run")
    expected = f"Run {run.pk} is {state}; only a running run can be cancelled"
    refused_without_change(staff_client, RUNS, "cancel_runs", run, db_rows, expected)


@pytest.mark.parametrize(("step", "status"), [("a", "succeeded"), ("d", "waiting")])
def test_retry_of_a_task_of_a_running_run_is_refused(staff_client, running_run, db_rows, step, status):
    task = Task.objects.get(run=running_run, step=step)
    expected = f"Task {task.pk} is {status} in a running run; only a dead task of a failed run"
    refused_without_change(staff_client, TASKS, "retry_now", task, db_rows, expected)


def test_retry_of_a_task_of_a_cancelled_run_is_refused(staff_client, cancelled_run, db_rows):
    task = Task.objects.get(run=cancelled_run, step="c")
    expected = f"Task {task.pk} is cancelled in a cancelled run"
    refused_without_change(staff_client, TASKS, "retry_now", task, db_rows, expected)


def test_retrying_one_of_two_dead_branches_leaves_the_run_failed_not_running_forever(staff_client, tmp_path):
    run = run_start(workflow="test-two-fragile", input={"flags": str(tmp_path)})
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert set(Task.objects.filter(run=run, status=TaskStatus.DEAD).values_list("step", flat=True)) == {"left", "right"}
    (tmp_path / "left").touch()
    post_action(staff_client, TASKS, "retry_now", [Task.objects.get(run=run, step="left").pk], confirm="yes")
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED  # right is still dead: back to failed, replayable again
    assert run_buttons_allow_replay(staff_client, run)


def run_buttons_allow_replay(client, run) -> bool:
    page = client.get(reverse("admin:orchestration_workflowrun_change", args=[run.pk])).content.decode()
    return 'value="replay_failed"' in page and 'value="cancel_runs"' not in page


def test_replay_from_a_step_also_reruns_every_other_dead_step_and_delivers(staff_client, tmp_path):
    run = run_start(workflow="test-two-fragile", input={"flags": str(tmp_path)})
    drain()
    (tmp_path / "left").touch()
    (tmp_path / "right").touch()
    preview = post_action(staff_client, RUNS, "replay_from_step", [run.pk], from_step="left").content.decode()
    assert "This will touch 1 workflow run (3 steps)" in preview and "left, right, join" in preview
    post_action(staff_client, RUNS, "replay_from_step", [run.pk], from_step="left", confirm="yes")
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
