"""Which operator acts each state allows, and the refusal staff read when it does not.

The services, the admin's buttons and messages, the API and the commands all answer with
these rules; here they are tested alone, state by state.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from orchestration import services
from orchestration.models import RunStatus, Task, WorkflowRun
from orchestration.rules import run_can_cancel, run_can_replay, task_can_retry

pytestmark = pytest.mark.django_db


def a_run(status: str, *task_statuses: str) -> WorkflowRun:
    run = WorkflowRun.objects.create(workflow="w", version=1, definition={"steps": []}, status=status)
    for n, task_status in enumerate(task_statuses):
        Task.objects.create(run=run, step=f"s{n}", action="engine.noop", status=task_status, run_after=timezone.now())
    return run


def a_task(status: str, run: WorkflowRun | None) -> Task:
    step = f"t{Task.objects.count()}" if run is not None else ""
    return Task.objects.create(run=run, step=step, action="engine.noop", status=status, run_after=timezone.now())


def test_the_services_answer_with_these_rules() -> None:
    assert (services.run_can_replay, services.run_can_cancel, services.task_can_retry) == (
        run_can_replay,
        run_can_cancel,
        task_can_retry,
    )


@pytest.mark.parametrize(
    ("status", "tasks", "mode", "refusal"),
    [
        ("running", ["succeeded", "queued"], "failed", "is running; only a failed or cancelled run can be replayed."),
        ("running", ["succeeded", "queued"], "scratch", "is running; only a failed or cancelled run can be replayed."),
        ("succeeded", ["succeeded"], "step", "is succeeded; only a failed or cancelled run can be replayed."),
        ("failed", ["succeeded", "dead", "cancelled"], "failed", None),
        ("failed", ["succeeded", "dead"], "step", None),
        ("cancelled", ["succeeded", "cancelled"], "failed", None),
        ("cancelled", ["succeeded", "cancelled"], "scratch", None),
        # Cancelled between two steps: nothing failed, so only a replay from scratch or a step can run.
        ("cancelled", ["succeeded", "succeeded"], "failed", "has no failed or cancelled step to replay."),
        ("cancelled", ["succeeded", "succeeded"], "scratch", None),
        ("cancelled", ["succeeded", "succeeded"], "step", None),
    ],
)
def test_run_can_replay(status, tasks, mode, refusal) -> None:
    run = a_run(status, *tasks)
    expected = None if refusal is None else f"Run {run.id} {refusal}"
    assert run_can_replay(run, mode=mode) == expected


@pytest.mark.parametrize("status", [RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED])
def test_only_a_running_run_can_be_cancelled(status) -> None:
    run = a_run(status)
    assert run_can_cancel(run) == f"Run {run.id} is {status}; only a running run can be cancelled."
    assert run_can_cancel(a_run(RunStatus.RUNNING)) is None


@pytest.mark.parametrize(
    ("status", "run_status", "refusal"),
    [
        ("queued", "running", None),
        ("queued", None, None),
        ("dead", "failed", None),
        ("dead", None, None),
        ("dead", "running", "is dead in a running run"),
        ("dead", "cancelled", "is dead in a cancelled run"),
        ("cancelled", "cancelled", "is cancelled in a cancelled run"),
        ("cancelled", "failed", "is cancelled in a failed run"),
        ("waiting", "running", "is waiting in a running run"),
        ("running", "running", "is running in a running run"),
        ("succeeded", "succeeded", "is succeeded in a succeeded run"),
        ("succeeded", None, "is succeeded"),
        ("running", None, "is running"),
    ],
)
def test_task_can_retry(status, run_status, refusal) -> None:
    task = a_task(status, a_run(run_status) if run_status else None)
    expected = (
        None
        if refusal is None
        else f"Task {task.id} {refusal}; only a dead task of a failed run, or a queued task, can be retried."
    )
    assert task_can_retry(task) == expected
