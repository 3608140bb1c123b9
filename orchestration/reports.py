"""Reports from an attempt: success, failure, a continuation, a release, a heartbeat, progress;
and the recovery of attempts whose lease ran out and of runs left with nothing queued. Each report
is fenced by its attempt (`orchestration.transitions.Fence`): a stale one changes nothing and is
recorded as such. Re-exported by `orchestration.services`.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from django.db import transaction

from orchestration import clock, queue, signals
from orchestration.exceptions import NotFound
from orchestration.models import (
    AttemptOutcome,
    RunStatus,
    Task,
    TaskStatus,
    WorkflowRun,
)
from orchestration.retry import RetryPolicy
from orchestration.transitions import (
    LEASE_CLEARED,
    Fence,
    advance,
    after_run_finished,
    close_attempt,
    due_in,
    fence_of,
    finish_run,
    lock_run_of,
    record_stale,
    run_id_of,
)

logger = logging.getLogger("orchestration")


def task_complete(
    *,
    task_id: int,
    output: dict[str, Any] | None,
    lease_token: uuid.UUID | None = None,
    attempt: int | None = None,
    run_id: Any = None,
) -> bool:
    """Record the attempt's success and queue what it made ready. False if the report was stale.

    `run_id` saves a lookup when the caller knows it (the executor does).
    """
    fence = fence_of(task_id, lease_token, attempt)
    applied, _ = _complete(task_id=task_id, output=output, fence=fence, run_id=run_id)
    return applied


def task_complete_and_claim_next(
    *, task_id: int, output: dict[str, Any] | None, lease_token: uuid.UUID, run_id: Any, worker: str
) -> tuple[bool, queue.ClaimedTask | None]:
    """`task_complete` for the worker that ran the attempt, which also takes the step this
    completion made ready when that step is the one its next claim would take anyway (the
    first in claim order, with no limited key): claimed in the same statement, with no NOTIFY
    round trip and no claim of its own. Returns (applied, the claimed step or None)."""
    return _complete(task_id=task_id, output=output, fence=Fence(lease_token), run_id=run_id, handoff_to=worker)


def _complete(
    *, task_id: int, output: dict[str, Any] | None, fence: Fence, run_id: Any, handoff_to: str | None = None
) -> tuple[bool, queue.ClaimedTask | None]:
    now = clock.now()
    with transaction.atomic():
        if run_id is None:
            run_id = run_id_of(task_id)
        done = queue.complete_step(
            task_id=task_id,
            run_id=run_id,
            output=output,
            now=now,
            lease_token=fence.lease_token,
            attempt=fence.attempt,
            handoff_to=handoff_to,
        )
        if run_id is not None and done.run_status is None:
            raise NotFound(f"No workflow run {run_id}")
        if not done.applied:
            record_stale(task_id, fence, "completed", now, detail={"output": output})
            return False, None
        if done.queued:
            queue.notify_after_commit()
        if done.finished_run is not None:
            after_run_finished(done.finished_run, RunStatus.SUCCEEDED)
        elif done.run_status == RunStatus.RUNNING and not done.ready and not done.active and done.dead:
            error = f"Steps {done.dead} failed and nothing else can run"
            finish_run(WorkflowRun.objects.get(id=run_id), RunStatus.FAILED, now, error=error)
    return True, done.handoff


def task_complete_batch(*, outputs: dict[int, dict[str, Any] | None], lease_token: uuid.UUID) -> int:
    """Complete several tasks of one claim that belong to no workflow.

    The fast path for plain queued work: one statement for the whole batch on Postgres
    (completions and their attempt rows), one transaction on SQLite. Returns how many were
    applied; the others' reports were stale and are recorded so.
    """
    now = clock.now()
    done = queue.complete_claimed(outputs=outputs, lease_token=lease_token, now=now)
    stale = set(outputs) - set(done)
    if stale:
        fence = Fence(lease_token)
        with transaction.atomic():
            for task_id in stale:
                record_stale(task_id, fence, "completed", now, detail={"output": outputs[task_id]})
    return len(done)


def task_fail(
    *,
    task_id: int,
    error: str,
    retryable: bool = True,
    lease_token: uuid.UUID | None = None,
    attempt: int | None = None,
    error_type: str = "",
    traceback: str = "",
    location: str = "",
    timed_out: bool = False,
    retry_after: float | None = None,
) -> bool:
    """Record a failed attempt: retry later with backoff (not before `retry_after` seconds), or
    kill the task and fail its run."""
    fence = fence_of(task_id, lease_token, attempt)
    now = clock.now()
    with transaction.atomic():
        run = lock_run_of(task_id)
        lookup = Task.objects.select_for_update().filter(fence.q(), id=task_id)
        if timed_out:  # a heartbeat may have extended the lease since the tick looked
            lookup = lookup.filter(lease_expires_at__lt=queue.db_now())
        task = lookup.first()
        if task is None:
            if not timed_out:
                record_stale(task_id, fence, "failed", now, detail={"error": error})
            return False
        policy = RetryPolicy.from_dict(task.retry, max_attempts=task.max_attempts)
        run_alive = run is None or run.status == RunStatus.RUNNING
        # The budget counts the attempts since the last replay or retry (attempt numbers go on).
        delay = policy.next_delay(task.attempts_spent) if retryable and run_alive else None
        if timed_out and delay is not None:
            # The worker is gone, not the action's dependency: run it again at once, so a
            # crash costs the lease and nothing more (the attempt still counts).
            delay = 0.0
        if delay is not None and retry_after is not None:
            delay = max(delay, retry_after)
        if delay is not None:
            task.status = TaskStatus.QUEUED
            if not timed_out:
                task.run_after = due_in(delay)
            # A recovered task keeps its run_after: its place at the head of the queue, not
            # behind everything queued while its worker was dying.
            outcome = AttemptOutcome.TIMED_OUT if timed_out else AttemptOutcome.RETRY
        else:
            task.status = TaskStatus.DEAD
            task.finished_at = now
            outcome = AttemptOutcome.TIMED_OUT if timed_out else AttemptOutcome.FAILED
        task.last_error = error
        task.lease_token = None
        task.lease_expires_at = None
        task.save(update_fields=["status", "run_after", "finished_at", "last_error", "lease_token", "lease_expires_at"])
        close_attempt(task_id, fence, outcome, now, error=error, error_type=error_type)
        signals.attempt_failed.send(
            sender=Task,
            task=task,
            run=run,
            error_type=error_type or ("LeaseExpired" if timed_out else "TaskError"),
            location=location or task.action,
            message=error,
            traceback=traceback,
            timed_out=timed_out,
            final=task.status == TaskStatus.DEAD,
        )
        if task.status == TaskStatus.QUEUED:
            queue.notify_ready()
        elif run is not None and run.status == RunStatus.RUNNING:
            finish_run(run, RunStatus.FAILED, now, error=f"Step {task.step!r} failed: {error}")
        elif run is None:
            signals.task_dead.send(sender=Task, task=task, error=error)
    logger.warning(
        "attempt failed",
        extra={"action": "task_fail", "task_id": task_id, "attempt": task.attempt, "status": task.status},
    )
    return True


def task_continue(
    *,
    task_id: int,
    cursor: Any,
    progress: dict[str, Any] | None = None,
    lease_token: uuid.UUID | None = None,
    attempt: int | None = None,
) -> bool:
    """Checkpoint a long step: the same attempt goes on from `cursor` in the next invocation."""
    fence = fence_of(task_id, lease_token, attempt)
    now = clock.now()
    with transaction.atomic():
        updated = Task.objects.filter(fence.q(), id=task_id).update(
            status=TaskStatus.QUEUED,
            resume=True,
            cursor=cursor,
            progress=progress,
            run_after=queue.db_now(),
            **LEASE_CLEARED,
        )
        if not updated:
            record_stale(task_id, fence, "continued", now, detail={"cursor": cursor})
            return False
        close_attempt(task_id, fence, AttemptOutcome.CONTINUED, now, detail={"cursor": cursor})
        queue.notify_ready()
    return True


def task_release(*, task_id: int, lease_token: uuid.UUID) -> bool:
    """Hand back a claimed task that never started (graceful shutdown): no attempt is spent."""
    fence = Fence(lease_token)
    now = clock.now()
    with transaction.atomic():
        updated = Task.objects.filter(fence.q(), id=task_id).update(
            status=TaskStatus.QUEUED, resume=True, run_after=queue.db_now(), **LEASE_CLEARED
        )
        if updated:
            close_attempt(task_id, fence, AttemptOutcome.RELEASED, now)
            queue.notify_ready()
    return bool(updated)


def task_heartbeat(
    *,
    task_id: int,
    extend_seconds: float,
    lease_token: uuid.UUID | None = None,
    attempt: int | None = None,
) -> datetime | None:
    """Extend a running attempt's lease to at least the database's now + `extend_seconds`; a
    renewal never shortens it. Returns the expiry, or None if the lease is lost."""
    fence = fence_of(task_id, lease_token, attempt)
    return queue.renew_lease(
        task_id=task_id, extend_seconds=extend_seconds, lease_token=fence.lease_token, attempt=fence.attempt
    )


def task_progress(
    *, task_id: int, progress: dict[str, Any], lease_token: uuid.UUID | None = None, attempt: int | None = None
) -> bool:
    """Store an attempt's progress report (shown to staff and on the status page)."""
    return bool(Task.objects.filter(fence_of(task_id, lease_token, attempt).q(), id=task_id).update(progress=progress))


def recover_expired_leases(*, limit: int = 100) -> int:
    """Fail the attempts whose lease ran out (dead or overrunning workers); returns how many."""
    recovered = 0
    for task_id, token in queue.expired_leases(limit=limit):
        if task_fail(
            task_id=task_id,
            lease_token=token,
            error="Lease expired: the worker died or overran the step's timeout",
            error_type="LeaseExpired",
            timed_out=True,
        ):
            recovered += 1
    return recovered


def repair_stalled_runs(*, limit: int = 50) -> int:
    """Safety net: advance running runs with nothing queued or running (a crash between commits)."""
    now = clock.now()
    stalled = (
        WorkflowRun.objects.filter(status=RunStatus.RUNNING)
        .exclude(tasks__status__in=[TaskStatus.QUEUED, TaskStatus.RUNNING])
        .values_list("id", flat=True)[:limit]
    )
    repaired = 0
    for run_id in list(stalled):
        with transaction.atomic():
            run = WorkflowRun.objects.select_for_update(no_key=True).get(id=run_id)
            if run.status == RunStatus.RUNNING and advance(run, now):
                repaired += 1
    return repaired
