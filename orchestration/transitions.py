"""What every state change of runs and tasks shares: the fence that tells a current attempt's
report from a stale one, the run lock, advancing and finishing a run, resetting a task, and the
records of closed attempts and stale reports. Called by `orchestration.starting`,
`orchestration.reports` and `orchestration.acts` inside their transactions, never on its own.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import DateTimeField, ExpressionWrapper, Q, Value
from django.utils.module_loading import import_string

from orchestration import queue, signals
from orchestration.exceptions import NotFound
from orchestration.models import (
    AgentRun,
    AttemptOutcome,
    RunStatus,
    Task,
    TaskStatus,
    WorkflowRun,
)

logger = logging.getLogger("orchestration")


LEASE_CLEARED = {"lease_token": None, "lease_expires_at": None}


def due_in(seconds: float) -> Any:
    """A due time `seconds` from now by the database's clock (queue.db_now), for the ORM."""
    now = queue.db_now()
    if isinstance(now, datetime):
        return now + timedelta(seconds=seconds)
    return ExpressionWrapper(now + Value(timedelta(seconds=seconds)), output_field=DateTimeField())


@dataclass(frozen=True)
class Fence:
    """Which attempt a report comes from: its lease token, or its attempt number (never reused
    by a later attempt or generation of the task), or both."""

    lease_token: uuid.UUID | None = None
    attempt: int | None = None

    def __post_init__(self) -> None:
        if self.lease_token is None and self.attempt is None:
            raise ValueError("A report must name its lease token or its attempt")

    def q(self) -> Q:
        """The task rows this report may change: running, under this attempt."""
        return self._of_this_attempt(Q(status=TaskStatus.RUNNING))

    def _of_this_attempt(self, q: Q) -> Q:
        if self.lease_token is not None:
            q &= Q(lease_token=self.lease_token)
        if self.attempt is not None:
            q &= Q(attempt=self.attempt)
        return q


# The token of no claim: the fence of a token-less report that cannot name its claim.
NO_CLAIM = uuid.UUID(int=0)


def fence_of(task_id: int, lease_token: uuid.UUID | None, attempt: int | None) -> Fence:
    """The fence of a report. A token-less one (the public callback body carries `attempt`
    only) is fenced by the token of the one claim that attempt number was given to: a
    continuation or a released claim goes on with the same attempt under a new token, so once
    an attempt was claimed twice its number alone no longer says which invocation reports (a
    re-sent report of the first would be applied to the second). Such a report is refused
    (stale); the engine's own dispatch always sends the token back (dispatch.py)."""
    if lease_token is not None or attempt is None:
        return Fence(lease_token, attempt)
    # Attempt rows opened by claims (a stale report's row names no claim of this attempt).
    claims = AgentRun.objects.filter(task_id=task_id, attempt=attempt, lease_token__isnull=False).exclude(
        outcome=AttemptOutcome.STALE
    )
    tokens = set(claims.values_list("lease_token", flat=True).distinct()[:2])
    return Fence(tokens.pop() if len(tokens) == 1 else NO_CLAIM, attempt)


def lock_run(run_id: Any) -> WorkflowRun:
    try:
        # NO KEY: see queries.sql's lock_run (a claim's foreign-key check must not wait for it).
        return WorkflowRun.objects.select_for_update(no_key=True).get(id=run_id)
    except WorkflowRun.DoesNotExist:
        raise NotFound(f"No workflow run {run_id}") from None


def run_id_of(task_id: int) -> Any:
    """The run of a task (None for a plain one); NotFound if there is no such task."""
    row = Task.objects.filter(id=task_id).values_list("run_id").first()
    if row is None:
        raise NotFound(f"No task {task_id}")
    return row[0]


def lock_run_of(task_id: int, run_id: Any = None) -> WorkflowRun | None:
    """Lock the task's run first: completions of one run are serialised, so a join step
    whose branches finish at the same moment is seen ready by exactly one of them."""
    if run_id is None:
        run_id = run_id_of(task_id)
    return lock_run(run_id) if run_id is not None else None


def advance(run: WorkflowRun, now: datetime) -> bool:
    """Queue the waiting steps whose dependencies all succeeded; finish the run when all did,
    or fail it again when a dead step leaves it nothing to do (one of two dead steps retried)."""
    progress = queue.queue_ready_steps(run.id)
    if progress.ready:
        queue.notify_ready()
    if progress.succeeded == progress.total:
        finish_run(run, RunStatus.SUCCEEDED, now)
        return True
    if not progress.ready and not progress.active and progress.dead:
        finish_run(run, RunStatus.FAILED, now, error=f"Steps {progress.dead} failed and nothing else can run")
        return True
    return bool(progress.ready)


def finish_run(run: WorkflowRun, status: str, now: datetime, *, error: str = "") -> None:
    if status == RunStatus.FAILED and fails_fast(run):
        stop_the_rest(run, now)
    run.status = status
    run.finished_at = now
    run.error = error
    run.save(update_fields=["status", "finished_at", "error"])
    after_run_finished(run, status, error=error)


def fails_fast(run: WorkflowRun) -> bool:
    """The run's own definition says so: a run keeps the definition it started with, so one started
    before the option keeps going on."""
    return bool(run.definition.get("fail_fast")) if isinstance(run.definition, dict) else False


def stop_the_rest(run: WorkflowRun, now: datetime) -> None:
    """Fail-fast: a run failed for good does no more work. Its waiting and queued steps
    are cancelled; its running ones too, their lease cleared, so their heartbeats and reports
    are fenced off (recorded stale, never applied) and a side effect not yet performed is left
    undone (orchestration.side_effects renews first). A replay or a retry queues them again."""
    cancel_unfinished(run, now)
    AgentRun.objects.filter(run=run, outcome=AttemptOutcome.RUNNING).update(
        outcome=AttemptOutcome.CANCELLED, finished_at=now, error="Its run failed (fail-fast)"
    )


def cancel_unfinished(run: WorkflowRun, now: datetime) -> None:
    """Cancel the run's unfinished tasks. A running one is fenced off at once (a report needs
    status 'running'; a renewal too, so its lease is no longer renewed), but its attempt may
    still be executing: it keeps its lease expiry, and with it its concurrency slot until
    the lease runs out (queries.sql, "holds a slot"), so a key's limit holds meanwhile."""
    Task.objects.filter(run=run, status__in=[TaskStatus.WAITING, TaskStatus.QUEUED]).update(
        status=TaskStatus.CANCELLED, finished_at=now, **LEASE_CLEARED
    )
    Task.objects.filter(run=run, status=TaskStatus.RUNNING).update(
        status=TaskStatus.CANCELLED, finished_at=now, lease_token=None
    )


def after_run_finished(run: WorkflowRun, status: str, *, error: str = "") -> None:
    """What follows a run's end, once its row says so: the workflow's status hook, the log, and
    the announcement (staff's mail is a receiver's: metrics.receivers)."""
    call_status_hook(run)
    logger.info("run finished", extra={"action": "run_finish", "run_id": str(run.id), "status": status})
    signals.run_finished.send(sender=WorkflowRun, run=run, status=status, error=error)


def call_status_hook(run: WorkflowRun) -> None:
    hook = run.definition.get("on_finish") if isinstance(run.definition, dict) else None
    if hook:
        import_string(hook)(run)


def reset_task(task: Task, *, ready: bool, key: str | None, now: datetime) -> None:
    task.status = TaskStatus.QUEUED if ready else TaskStatus.WAITING
    # A fresh set of attempts, numbered on from the last one: a late report of an earlier
    # attempt or generation can never carry the number of a new one.
    task.attempt_base = task.attempt
    task.resume = False
    task.cursor = None
    task.output = None
    task.progress = None
    task.last_error = ""
    task.lease_token = None
    task.lease_expires_at = None
    task.run_after = queue.db_now()
    task.started_at = None
    task.finished_at = None
    task.idempotency_key = key
    task.save()
    if not isinstance(task.run_after, datetime):  # the database's now, as an expression: read it back
        task.refresh_from_db(fields=["run_after"])


def close_attempt(
    task_id: int,
    fence: Fence,
    outcome: str,
    now: datetime,
    *,
    error: str = "",
    error_type: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    queue.close_attempts(
        task_ids=[task_id],
        outcome=outcome,
        now=now,
        lease_token=fence.lease_token,
        attempt=fence.attempt,
        error=error,
        error_type=error_type,
        detail=detail,
    )


def record_stale(task_id: int, fence: Fence, report: str, now: datetime, *, detail: dict[str, Any]) -> None:
    """A report from an attempt that no longer holds the task: kept for the record, applied never."""
    task = Task.objects.filter(id=task_id).values("run_id", "action", "attempt", "status").first()
    if task is None:
        raise NotFound(f"No task {task_id}")
    AgentRun.objects.create(
        task_id=task_id,
        run_id=task["run_id"],
        action=task["action"],
        attempt=fence.attempt if fence.attempt is not None else task["attempt"],
        lease_token=None if fence.lease_token == NO_CLAIM else fence.lease_token,
        outcome=AttemptOutcome.STALE,
        started_at=now,
        finished_at=now,
        duration_ms=0,
        detail={"report": report, "task_status": task["status"], "current_attempt": task["attempt"], **detail},
    )
    logger.info(
        "stale report ignored",
        extra={"action": "stale_report", "task_id": task_id, "report": report, "attempt": fence.attempt},
    )
