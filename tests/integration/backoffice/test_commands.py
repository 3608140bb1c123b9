"""replay_task / replay_workflow / rollup_metrics: dry runs, acts, and clear refusals (exit 1),
checked in-process and, for the exit codes, from real `manage.py` processes."""

from __future__ import annotations

import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from metrics.models import Rollup
from orchestration.models import OperatorAction, RunStatus, Task, TaskStatus
from orchestration.services import Actor, run_cancel, run_replay
from tests.conftest import ROOT, worker_env
from tests.integration.backoffice.test_rollups import attempts
from tests.support.factories import drain, order_run


def run_command(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_replay_workflow_dry_run_names_the_steps_and_changes_nothing(failed_order):
    _, run = failed_order
    out = run_command("replay_workflow", "alice", "--dry-run")
    assert f"Would replay run {run.pk}" in out and "2 step(s): c, d" in out
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and not OperatorAction.objects.exists()


@pytest.mark.parametrize("ref", ["run", "project", "slug"])
def test_replay_workflow_finds_the_run_by_run_id_project_id_or_slug(failed_order, flag, ref):
    project, run = failed_order
    flag.touch()
    value = {"run": str(run.pk), "project": str(project.pk), "slug": "alice"}[ref]
    assert "Replaying run" in run_command("replay_workflow", value)
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert OperatorAction.objects.get().actor_label == "command:replay_workflow"


def test_replay_workflow_from_scratch_and_from_a_step(failed_order):
    _, run = failed_order
    assert "4 step(s): a, b, c, d" in run_command("replay_workflow", str(run.pk), "--from-scratch", "--dry-run")
    assert "3 step(s): a, c, d" in run_command("replay_workflow", str(run.pk), "--from-step", "a", "--dry-run")
    with pytest.raises(CommandError, match="no step 'zz'"):
        run_command("replay_workflow", str(run.pk), "--from-step", "zz")


@pytest.mark.django_db
@pytest.mark.parametrize("ref", ["nobody", "00000000-0000-0000-0000-000000000000"])
def test_replay_workflow_refuses_an_unknown_reference(ref):
    with pytest.raises(CommandError, match="No workflow run or project matches"):
        run_command("replay_workflow", ref)


def test_replay_workflow_refuses_a_delivered_run_even_in_a_dry_run(delivered_order):
    for extra in ((), ("--dry-run",)):
        with pytest.raises(CommandError, match="is succeeded; only a failed or cancelled run"):
            run_command("replay_workflow", "bob", *extra)
    assert not OperatorAction.objects.exists()


def test_replay_workflow_refuses_a_running_run(failed_order, flag):
    _, run = failed_order
    run_command("replay_workflow", str(run.pk))
    with pytest.raises(CommandError, match="is running"):
        run_command("replay_workflow", str(run.pk), "--from-scratch")
    assert OperatorAction.objects.count() == 1


def test_replay_task_dry_run_tells_the_outcome_and_rolls_back(failed_order):
    _, run = failed_order
    dead = Task.objects.get(run=run, step="c")
    out = run_command("replay_task", str(dead.pk), "--dry-run")
    assert f"Would retry task {dead.pk} (c, dead, attempt 1): it would become queued" in out
    dead.refresh_from_db()
    run.refresh_from_db()
    assert dead.status == TaskStatus.DEAD and run.status == RunStatus.FAILED
    assert not OperatorAction.objects.exists()


def test_replay_task_retries_a_dead_task_of_a_failed_run(failed_order, flag):
    _, run = failed_order
    dead = Task.objects.get(run=run, step="c")
    flag.touch()
    assert "now queued" in run_command("replay_task", str(dead.pk))
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED


@pytest.mark.django_db
def test_replay_task_refuses_an_unknown_id():
    with pytest.raises(CommandError, match="No task 999999"):
        run_command("replay_task", "999999")


@pytest.mark.parametrize("dry_run", [False, True])
def test_replay_task_refuses_a_task_of_a_delivered_run(delivered_order, dry_run):
    _, run = delivered_order
    done = Task.objects.get(run=run, step="c")
    with pytest.raises(CommandError, match="is succeeded in a succeeded run"):
        run_command("replay_task", str(done.pk), *(["--dry-run"] if dry_run else []))
    assert not OperatorAction.objects.exists()


def test_replay_task_refuses_a_task_of_a_cancelled_run(failed_order, superuser):
    _, run = failed_order
    run_replay(run=run, actor=Actor(label="test"), mode="failed")
    run_cancel(run=run, actor=Actor(label="test"))
    cancelled = Task.objects.get(run=run, step="c")
    with pytest.raises(CommandError, match="cancelled in a cancelled run"):
        run_command("replay_task", str(cancelled.pk))


@pytest.mark.django_db
def test_rollup_metrics_command_writes_one_window(clock):
    out = run_command("rollup_metrics")
    assert out.startswith("rollup 2026-11-24 08:55: 0 attempts")
    run_command("rollup_metrics", "--json")
    assert Rollup.objects.count() == 1


# --- Wrong states: CommandError with the reason, not one row changed ---------------------


@pytest.fixture
def running_run(failed_order):
    _, run = failed_order
    run_replay(run=run, actor=Actor(label="test"), mode="failed")
    return run


@pytest.mark.parametrize("dry_run", [False, True])
def test_replay_workflow_from_a_step_is_refused_on_a_running_run(running_run, db_rows, dry_run):
    before = db_rows()
    with pytest.raises(CommandError, match=f"Run {running_run.pk} is running; only a failed or cancelled run"):
        run_command("replay_workflow", str(running_run.pk), "--from-step", "a", *(["--dry-run"] if dry_run else []))
    assert db_rows() == before


def test_replay_workflow_from_a_step_is_refused_on_a_delivered_run(delivered_order, db_rows):
    before = db_rows()
    with pytest.raises(CommandError, match="is succeeded; only a failed or cancelled run"):
        run_command("replay_workflow", "bob", "--from-step", "a")
    assert db_rows() == before


@pytest.mark.parametrize(("step", "status"), [("a", "succeeded"), ("d", "waiting")])
def test_replay_task_is_refused_on_a_task_of_a_running_run(running_run, db_rows, step, status):
    task = Task.objects.get(run=running_run, step=step)
    before = db_rows()
    with pytest.raises(CommandError, match=f"Task {task.pk} is {status} in a running run"):
        run_command("replay_task", str(task.pk))
    assert db_rows() == before


@pytest.mark.django_db
@pytest.mark.parametrize("output", ["text", "json"])
def test_rollup_metrics_catches_up_and_a_rerun_writes_the_same_windows(clock, output):
    clock.advance(60)
    attempts(clock, "design-ia.generate", [10.0])
    clock.advance(700)  # 09:12:40: the 09:00 window was missed
    first = run_command("rollup_metrics")
    assert first.startswith("rollup 2026-11-24 09:05: 0 attempts")
    assert "1 earlier window(s) filled in from 09:00" in first
    rows = list(Rollup.objects.order_by("window_start").values("window_start", "attempts"))
    assert [r["attempts"] for r in rows] == [1, 0]
    again = run_command("rollup_metrics", *(["--json"] if output == "json" else []))  # the cron's duplicate
    assert list(Rollup.objects.order_by("window_start").values("window_start", "attempts")) == rows
    assert "filled in" not in again and '"windows_written": 2' not in again


# --- Exit codes, from a real process ---------------------------------------------------------


def manage(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=worker_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("replay_workflow", "nobody"), "CommandError: No workflow run or project matches 'nobody'"),
        (("replay_task", "999999"), "CommandError: No task 999999"),
        (("replay_task", "zero"), "error: argument task_id"),
        (("rollup_metrics", "--since", "yesterday"), "CommandError: --since 'yesterday': give a duration"),
    ],
)
def test_bad_arguments_exit_non_zero_with_a_clear_message_on_stderr(args, message):
    result = manage(*args)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_replaying_a_running_run_from_a_process_exits_1_and_changes_nothing(tmp_path):
    _, run = order_run(tmp_path / "missing-flag")
    run_replay(run=run, actor=Actor(label="test"), mode="failed")
    acts = OperatorAction.objects.count()
    result = manage("replay_workflow", str(run.pk), "--from-scratch")
    assert result.returncode == 1
    assert f"CommandError: Run {run.pk} is running; only a failed or cancelled run can be replayed" in result.stderr
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING and OperatorAction.objects.count() == acts
    assert manage("replay_workflow", str(run.pk), "--dry-run").returncode == 1
