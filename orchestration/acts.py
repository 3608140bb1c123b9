"""Operator acts: cancel or replay a run, retry a task. Each is allowed by `orchestration.rules`,
done in one transaction, and recorded (`OperatorAction`) with who did it and when. Re-exported by
`orchestration.services`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from orchestration import clock, queue
from orchestration.exceptions import IllegalTransition, InvalidWorkflow
from orchestration.models import (
    AgentRun,
    AttemptOutcome,
    OperatorAction,
    RunStatus,
    Task,
    TaskStatus,
    WorkflowRun,
)
from orchestration.rules import run_can_cancel, run_can_replay, task_can_retry
from orchestration.starting import step_key
from orchestration.transitions import (
    call_status_hook,
    cancel_unfinished,
    finish_run,
    lock_run,
    lock_run_of,
    reset_task,
)
from orchestration.workflows import downstream_of

logger = logging.getLogger("orchestration")


@dataclass(frozen=True)
class Actor:
    """Who performs an operator act: a staff user, a command, the API."""

    label: str
    user: Any = None

    @classmethod
    def of_user(cls, user: Any) -> Actor:
        return cls(label=f"staff:{user.get_username()}", user=user)


def run_cancel(*, run: WorkflowRun, actor: Actor, reason: str = "") -> WorkflowRun:
    """Stop a running run: unfinished tasks are cancelled and late reports from them ignored."""
    now = clock.now()
    with transaction.atomic():
        run = lock_run(run.id)
        if refusal := run_can_cancel(run):
            raise IllegalTransition(refusal)
        cancel_unfinished(run, now)
        AgentRun.objects.filter(run=run, outcome=AttemptOutcome.RUNNING).update(
            outcome=AttemptOutcome.CANCELLED, finished_at=now
        )
        finish_run(
            run, RunStatus.CANCELLED, now, error=f"Cancelled by {actor.label}" + (f": {reason}" if reason else "")
        )
        record_act(actor, OperatorAction.Verb.CANCEL_RUN, run=run, detail={"reason": reason})
    return run


def replay_plan(run: WorkflowRun, *, mode: str = "failed", from_step: str | None = None) -> list[str]:
    """The steps a replay would reset, in order (for dry runs and confirmations)."""
    tasks = {t.step: t for t in run.tasks.all()}
    needs = {step: list(t.needs) for step, t in tasks.items()}
    if mode == "scratch":
        targets = set(tasks)
    elif mode == "step":
        if from_step not in tasks:
            raise InvalidWorkflow(f"Run {run.id} has no step {from_step!r}; steps are {sorted(tasks)}")
        # The failed steps too, wherever they are: a run replayed from a later step, or from
        # a parallel branch, could otherwise never finish.
        targets = downstream_of(needs, {from_step} | _failed_steps(tasks))
    elif mode == "failed":
        targets = downstream_of(needs, _failed_steps(tasks))
    else:
        raise InvalidWorkflow(f"Replay mode must be 'failed', 'scratch' or 'step', got {mode!r}")
    order = [s["name"] for s in run.definition.get("steps", [])]
    return [s for s in order if s in targets]


def _failed_steps(tasks: dict[str, Task]) -> set[str]:
    return {step for step, t in tasks.items() if t.status in (TaskStatus.DEAD, TaskStatus.CANCELLED)}


def run_replay(*, run: WorkflowRun, actor: Actor, mode: str = "failed", from_step: str | None = None) -> WorkflowRun:
    """Re-run a failed or cancelled run: its failed steps and what follows them (keeping the
    outputs of the others), a chosen step and what follows it, or everything."""
    now = clock.now()
    with transaction.atomic():
        run = lock_run(run.id)
        if refusal := run_can_replay(run, mode=mode):
            raise IllegalTransition(refusal)
        targets = set(replay_plan(run, mode=mode, from_step=from_step))
        run.generation += 1
        tasks = list(run.tasks.select_for_update())
        kept = {t.step for t in tasks if t.step not in targets and t.status == TaskStatus.SUCCEEDED}
        for task in tasks:
            if task.step in targets:
                reset_task(task, ready=set(task.needs) <= kept, key=step_key(run, task.step), now=now)
        AgentRun.objects.filter(run=run, outcome=AttemptOutcome.RUNNING, task__step__in=targets).update(
            outcome=AttemptOutcome.CANCELLED, finished_at=now
        )
        run.status = RunStatus.RUNNING
        run.finished_at = None
        run.error = ""
        run.save(update_fields=["status", "finished_at", "error", "generation"])
        verb = {
            "failed": OperatorAction.Verb.REPLAY_FAILED,
            "scratch": OperatorAction.Verb.REPLAY_SCRATCH,
            "step": OperatorAction.Verb.REPLAY_FROM_STEP,
        }[mode]
        record_act(actor, verb, run=run, detail={"steps": sorted(targets), "from_step": from_step})
        call_status_hook(run)
        queue.notify_ready()
    return run


def task_retry(*, task: Task, actor: Actor) -> Task:
    """Retry one dead task now with a fresh set of attempts, or run a queued one without waiting."""
    now = clock.now()
    with transaction.atomic():
        run = lock_run_of(task.id)
        task = Task.objects.select_for_update().get(id=task.id)
        if run is not None:
            task.run = run  # the locked row: the rule reads its status, and no second query
        if refusal := task_can_retry(task):
            raise IllegalTransition(refusal)
        if task.status == TaskStatus.QUEUED:
            task.run_after = now
            task.save(update_fields=["run_after"])
        elif run is not None:
            done = set(run.tasks.filter(status=TaskStatus.SUCCEEDED).values_list("step", flat=True))
            run.generation += 1
            reset_task(task, ready=set(task.needs) <= done, key=step_key(run, task.step), now=now)
            # In a failed run a cancelled step was stopped by fail-fast when the run failed
            # (a cancelled run cannot be retried): it goes back to the queue with the retry.
            for stopped in run.tasks.select_for_update().filter(status=TaskStatus.CANCELLED):
                ready = set(stopped.needs) <= done
                reset_task(stopped, ready=ready, key=step_key(run, stopped.step), now=now)
            run.status = RunStatus.RUNNING
            run.finished_at = None
            run.error = ""
            run.save(update_fields=["status", "finished_at", "error", "generation"])
            call_status_hook(run)
        else:
            reset_task(task, ready=True, key=task.idempotency_key, now=now)
        record_act(actor, OperatorAction.Verb.RETRY_TASK, run=run, task=task, detail={})
        queue.notify_ready()
    return task


def record_act(
    actor: Actor, verb: str, *, run: WorkflowRun | None = None, task: Task | None = None, detail: dict[str, Any]
) -> None:
    OperatorAction.objects.create(
        actor=actor.user if getattr(actor.user, "pk", None) else None,
        actor_label=actor.label,
        verb=verb,
        run=run,
        task=task,
        detail=detail,
    )
    logger.info(
        "operator act",
        extra={
            "action": verb,
            "actor": actor.label,
            "run_id": str(run.id) if run else None,
            "task_id": task.id if task else None,
        },
    )
