"""Which operator acts a run's or a task's state allows, and why not when it does not.

Each rule answers None when the act is allowed, else the refusal as one sentence a staff
member understands. The services raise IllegalTransition with that sentence (holding the
row's lock); the admin, the API and the commands show the same sentence, and the admin
shows only the buttons whose rule answers None.
"""

from __future__ import annotations

from orchestration.models import RunStatus, Task, TaskStatus, WorkflowRun

REPLAYABLE = (RunStatus.FAILED, RunStatus.CANCELLED)
# The steps a replay of the failed steps starts from.
FAILED_STEP = (TaskStatus.DEAD, TaskStatus.CANCELLED)


def run_can_replay(run: WorkflowRun, *, mode: str = "failed") -> str | None:
    """A failed or cancelled run can be replayed; from its failed steps only if it has one
    (a run cancelled before any step failed has none: it is replayed from scratch or a step)."""
    if run.status not in REPLAYABLE:
        return f"Run {run.id} is {run.status}; only a failed or cancelled run can be replayed."
    if mode == "failed" and not run.tasks.filter(status__in=FAILED_STEP).exists():
        return f"Run {run.id} has no failed or cancelled step to replay."
    return None


def run_can_cancel(run: WorkflowRun) -> str | None:
    """Only a running run can be cancelled: a finished one has nothing left to stop."""
    if run.status != RunStatus.RUNNING:
        return f"Run {run.id} is {run.status}; only a running run can be cancelled."
    return None


def task_can_retry(task: Task) -> str | None:
    """A queued task can run now; a dead one can get fresh attempts when it has no run or its
    run failed (the steps of a cancelled run come back with a replay of the run)."""
    run = task.run if task.run_id is not None else None
    if task.status == TaskStatus.QUEUED:
        return None
    if task.status == TaskStatus.DEAD and (run is None or run.status == RunStatus.FAILED):
        return None
    state = f"{task.status}" + (f" in a {run.status} run" if run is not None else "")
    return f"Task {task.id} is {state}; only a dead task of a failed run, or a queued task, can be retried."
