"""The engine's public surface: every state change of runs and tasks lives here.

Views, admin actions, commands, agents and tests call these keyword-only
functions, never the models' internals. Each function is one transaction; each
transition is a conditional UPDATE fenced by the attempt's lease token (or its
attempt number, for agents calling back over HTTP without the token), so a report
from an attempt that no longer holds the task changes nothing and is recorded as
stale. Neither ever repeats: a token is new for every claim, and attempt
numbers go on counting through replays and retries (`Task.attempt_base`).

Lease times are the database's: on Postgres the ORM's filters and updates of
leases and due times use `queue.db_now()` (the database's `now()`), never the host's
clock.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import DateTimeField, ExpressionWrapper, Q, Value
from django.utils import timezone
from django.utils.module_loading import import_string

from orchestration import clock, limits, queue, signals
from orchestration.exceptions import IllegalTransition, InvalidWorkflow, NotFound
from orchestration.models import (
    AgentRun,
    AttemptOutcome,
    OperatorAction,
    RunStatus,
    Task,
    TaskStatus,
    WorkflowRun,
)
from orchestration.retry import RetryPolicy
from orchestration.rules import run_can_cancel, run_can_replay, task_can_retry
from orchestration.workflows import Workflow, downstream_of, get_workflow

logger = logging.getLogger("orchestration")

DEFAULT_TIMEOUT_SECONDS = 60.0
_LEASE_CLEARED = {"lease_token": None, "lease_expires_at": None}


def _due_in(seconds: float) -> Any:
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
        q = Q(status=TaskStatus.RUNNING)
        if self.lease_token is not None:
            q &= Q(lease_token=self.lease_token)
        if self.attempt is not None:
            q &= Q(attempt=self.attempt)
        return q

    def agent_run_q(self) -> Q:
        q = Q(outcome=AttemptOutcome.RUNNING)
        if self.lease_token is not None:
            q &= Q(lease_token=self.lease_token)
        if self.attempt is not None:
            q &= Q(attempt=self.attempt)
        return q


# The token of no claim: the fence of a token-less report that cannot name its claim.
_NO_CLAIM = uuid.UUID(int=0)


def _fence_of(task_id: int, lease_token: uuid.UUID | None, attempt: int | None) -> Fence:
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
    return Fence(tokens.pop() if len(tokens) == 1 else _NO_CLAIM, attempt)


@dataclass(frozen=True)
class Actor:
    """Who performs an operator act: a staff user, a command, the API."""

    label: str
    user: Any = None

    @classmethod
    def of_user(cls, user: Any) -> Actor:
        return cls(label=f"staff:{user.get_username()}", user=user)


# --- Starting work ---------------------------------------------------------------


def enqueue(
    action: str,
    payload: dict[str, Any] | None = None,
    *,
    priority: int = 0,
    run_after: datetime | None = None,
    idempotency_key: str | None = None,
    retry: RetryPolicy | None = None,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    concurrency_key: str = "",
) -> Task:
    """Queue one task outside any workflow. The same idempotency key returns the first task.

    With `concurrency_key`, the task counts against that key's limit, if it has one.
    """
    if queue.is_postgres() and not transaction.get_connection().in_atomic_block:
        return _enqueue_pg(
            action, payload, priority, run_after, idempotency_key, retry, timeout_seconds, concurrency_key
        )
    task = _new_task(action, payload, priority, run_after, idempotency_key, retry, timeout_seconds, concurrency_key)
    if idempotency_key:
        existing = Task.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    try:
        with transaction.atomic():
            task.save(force_insert=True)
            queue.notify_ready()
    except IntegrityError:
        existing = Task.objects.filter(idempotency_key=idempotency_key).first() if idempotency_key else None
        if existing is None:
            raise
        return existing
    return task


def _enqueue_pg(
    action: str,
    payload: dict[str, Any] | None,
    priority: int,
    run_after: datetime | None,
    idempotency_key: str | None,
    retry: RetryPolicy | None,
    timeout_seconds: float,
    concurrency_key: str,
) -> Task:
    """enqueue on Postgres outside a transaction: one statement (insert and NOTIFY), and the
    Task built from what was inserted instead of through the ORM."""
    _check_task(action, timeout_seconds, concurrency_key)
    policy = retry or _DEFAULT_RETRY
    retry_dict = _DEFAULT_RETRY_DICT if retry is None else policy.as_dict()
    now = clock.now()
    payload = payload or {}
    key = idempotency_key or None
    due = run_after or now
    task_id = queue.insert_task(
        action=action,
        payload_json=json.dumps(payload),
        priority=priority,
        run_after=run_after or queue.lease_now(now),  # None: due at the database's now
        max_attempts=policy.max_attempts,
        retry_json=_DEFAULT_RETRY_JSON if retry is None else json.dumps(retry_dict),
        timeout_seconds=timeout_seconds,
        idempotency_key=key,
        now=now,
        concurrency_key=concurrency_key,
    )
    if task_id is None:  # the idempotency key exists: the first task
        return Task.objects.get(idempotency_key=idempotency_key)
    return _queued_task(
        {
            "id": task_id,
            "run_id": None,
            "step": "",
            "action": action,
            "needs": [],
            "status": TaskStatus.QUEUED,
            "priority": priority,
            "run_after": due,
            "attempt": 0,
            "max_attempts": policy.max_attempts,
            "retry": dict(retry_dict),
            "timeout_seconds": timeout_seconds,
            "lease_token": None,
            "lease_expires_at": None,
            "claimed_by": "",
            "resume": False,
            "input": payload,
            "output": None,
            "cursor": None,
            "progress": None,
            "idempotency_key": key,
            "concurrency_key": concurrency_key,
            "last_error": "",
            "created_at": now,
            "started_at": None,
            "finished_at": None,
        }
    )


_DEFAULT_RETRY = RetryPolicy()
_DEFAULT_RETRY_DICT = _DEFAULT_RETRY.as_dict()
_DEFAULT_RETRY_JSON = json.dumps(_DEFAULT_RETRY_DICT)
_TASK_FIELDS: list[Any] = []


def _queued_task(values: dict[str, Any]) -> Task:
    """A freshly inserted plain task as a model instance, as the ORM would load it (`from_db`,
    positional: a fraction of the cost of `Task(**kwargs)`); a field not named gets its default."""
    if not _TASK_FIELDS:
        _TASK_FIELDS.extend(Task._meta.concrete_fields)
    names = [f.attname for f in _TASK_FIELDS]
    row = [values[f.attname] if f.attname in values else f.get_default() for f in _TASK_FIELDS]
    return Task.from_db(transaction.get_connection().alias, names, row)


def enqueue_many(
    action: str,
    payloads: list[dict[str, Any]],
    *,
    priority: int = 0,
    run_after: datetime | None = None,
    retry: RetryPolicy | None = None,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    concurrency_key: str = "",
) -> list[int]:
    """Queue many tasks of one action in one statement (bulk intake, benchmarks); returns their ids."""
    template = _new_task(action, None, priority, run_after, None, retry, timeout_seconds, concurrency_key)
    if queue.is_postgres():
        return _insert(template, [p or {} for p in payloads], due_now=run_after is None)
    tasks = [_new_task(action, p, priority, run_after, None, retry, timeout_seconds, concurrency_key) for p in payloads]
    with transaction.atomic():
        Task.objects.bulk_create(tasks, batch_size=500)
        queue.notify_ready()
    return [t.id for t in tasks]


def _insert(template: Task, payloads: list[dict[str, Any]], *, due_now: bool) -> list[int]:
    return queue.insert_tasks(
        action=template.action,
        payloads=payloads,
        priority=template.priority,
        # Due now: by the database's clock (None), not this host's.
        run_after=queue.lease_now(template.run_after) if due_now else template.run_after,
        max_attempts=template.max_attempts,
        retry=template.retry,
        timeout_seconds=template.timeout_seconds,
        idempotency_key=template.idempotency_key,
        now=clock.now(),
        concurrency_key=template.concurrency_key,
    )


def _new_task(
    action: str,
    payload: dict[str, Any] | None,
    priority: int,
    run_after: datetime | None,
    idempotency_key: str | None,
    retry: RetryPolicy | None,
    timeout_seconds: float,
    concurrency_key: str = "",
) -> Task:
    _check_task(action, timeout_seconds, concurrency_key)
    policy = retry or RetryPolicy()
    return Task(
        action=action,
        input=payload or {},
        priority=priority,
        run_after=run_after or clock.now(),
        idempotency_key=idempotency_key or None,
        retry=policy.as_dict(),
        max_attempts=policy.max_attempts,
        timeout_seconds=timeout_seconds,
        status=TaskStatus.QUEUED,
        concurrency_key=concurrency_key,
    )


def _check_task(action: str, timeout_seconds: float, concurrency_key: str) -> None:
    if "." not in action:
        raise InvalidWorkflow(f"Action names are 'agent.action', got {action!r}")
    if timeout_seconds <= 0:
        raise InvalidWorkflow(f"timeout_seconds must be positive, got {timeout_seconds}")
    if len(concurrency_key) > limits.MAX_KEY_LENGTH:
        raise InvalidWorkflow(f"concurrency_key is longer than {limits.MAX_KEY_LENGTH} characters: {concurrency_key!r}")


def run_start(
    *,
    workflow: str | Workflow,
    input: dict[str, Any] | None = None,
    project: Any = None,
    idempotency_key: str | None = None,
    version: int | None = None,
) -> WorkflowRun:
    """Start a run of `workflow` (latest version unless given). One run per idempotency key."""
    definition = workflow if isinstance(workflow, Workflow) else get_workflow(workflow, version)
    if idempotency_key:
        existing = WorkflowRun.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    now = clock.now()
    if queue.is_postgres():
        return _run_start_pg(definition, input=input, project=project, idempotency_key=idempotency_key, now=now)
    try:
        with transaction.atomic():
            run = WorkflowRun.objects.create(
                workflow=definition.name,
                version=definition.version,
                definition=definition.as_dict(),
                project=project,
                input=input or {},
                idempotency_key=idempotency_key or None,
            )
            Task.objects.bulk_create([Task(run=run, run_after=now, **fields) for fields in _step_rows(run, definition)])
            queue.notify_ready()
            _call_status_hook(run)
    except IntegrityError:
        existing = WorkflowRun.objects.filter(idempotency_key=idempotency_key).first() if idempotency_key else None
        if existing is None:
            raise
        return existing
    logger.info("run started", extra={"action": "run_start", "run_id": str(run.id), "workflow": run.workflow})
    return run


def _run_start_pg(
    definition: Workflow, *, input: dict[str, Any] | None, project: Any, idempotency_key: str | None, now: datetime
) -> WorkflowRun:
    """run_start on Postgres: the run, its tasks and the NOTIFY in one statement, in one
    transaction with the status hook (none: the statement is its own transaction)."""
    run = WorkflowRun(
        id=uuid.uuid4(),
        workflow=definition.name,
        version=definition.version,
        definition=definition.as_dict(),
        project=project,
        input=input or {},
        idempotency_key=idempotency_key or None,
        status=RunStatus.RUNNING,
        created_at=timezone.now(),
    )
    with transaction.atomic() if definition.on_finish else contextlib.nullcontext():
        if not queue.insert_run(run=run, steps=_step_rows(run, definition), now=now):
            existing = WorkflowRun.objects.filter(idempotency_key=idempotency_key).first()
            if existing is None:  # inserted nothing, yet no run holds the key: not a duplicate
                raise IntegrityError(f"Run {run.id} of {definition.name} was not inserted")
            return existing
        run._state.adding = False  # as Model.save leaves it: the row exists
        run._state.db = transaction.get_connection().alias
        _call_status_hook(run)
    logger.info("run started", extra={"action": "run_start", "run_id": str(run.id), "workflow": run.workflow})
    return run


def _step_rows(run: WorkflowRun, definition: Workflow) -> list[dict[str, Any]]:
    """The fields of the run's tasks, one per step (those without needs are queued at once)."""
    return [
        {
            "step": step.name,
            "action": step.action,
            "needs": list(step.needs),
            "status": TaskStatus.WAITING if step.needs else TaskStatus.QUEUED,
            "priority": step.priority,
            "max_attempts": step.max_attempts,
            "retry": step.retry.as_dict(),
            "timeout_seconds": step.timeout_seconds,
            "input": run.input,
            "idempotency_key": _step_key(run, step.name),
            "concurrency_key": limits.concurrency_key(
                step.concurrency_key, action=step.action, run_id=run.id, project_id=run.project_id
            ),
        }
        for step in definition.steps
    ]


def _step_key(run: WorkflowRun, step: str) -> str:
    return f"{run.id}:{step}:g{run.generation}"


# --- Reports from an attempt ---------------------------------------------------------


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
    fence = _fence_of(task_id, lease_token, attempt)
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
    if not queue.is_postgres():
        return _complete_portable(task_id=task_id, output=output, fence=fence, run_id=run_id, now=now), None
    with transaction.atomic():
        if run_id is None:
            run_id = _run_id_of(task_id)
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
            _record_stale(task_id, fence, "completed", now, detail={"output": output})
            return False, None
        if done.queued:
            queue.notify_after_commit()
        if done.finished_run is not None:
            _run_finished(done.finished_run, RunStatus.SUCCEEDED)
        elif done.run_status == RunStatus.RUNNING and not done.ready and not done.active and done.dead:
            error = f"Steps {done.dead} failed and nothing else can run"
            _finish_run(WorkflowRun.objects.get(id=run_id), RunStatus.FAILED, now, error=error)
    return True, done.handoff


def _complete_portable(
    *, task_id: int, output: dict[str, Any] | None, fence: Fence, run_id: Any, now: datetime
) -> bool:
    """The completion through the ORM (SQLite): the same steps, one statement each."""
    with transaction.atomic():
        run = _lock_run_of(task_id, run_id)
        updated = Task.objects.filter(fence.q(), id=task_id).update(
            status=TaskStatus.SUCCEEDED, output=output, cursor=None, finished_at=now, last_error="", **_LEASE_CLEARED
        )
        if not updated:
            _record_stale(task_id, fence, "completed", now, detail={"output": output})
            return False
        _close_agent_run(task_id, fence, AttemptOutcome.SUCCEEDED, now)
        if run is not None and run.status == RunStatus.RUNNING:
            _advance(run, now)
    return True


def task_complete_batch(*, outputs: dict[int, dict[str, Any] | None], lease_token: uuid.UUID) -> int:
    """Complete several tasks of one claim that belong to no workflow.

    The fast path for plain queued work: one statement for the whole batch on Postgres
    (completions and their attempt rows), one transaction elsewhere. Returns how many were
    applied; the others' reports were stale and are recorded so.
    """
    now = clock.now()
    if queue.is_postgres():
        done = queue.complete_claimed(outputs=outputs, lease_token=lease_token, now=now)
    else:
        with transaction.atomic():
            done = queue.complete_claimed(outputs=outputs, lease_token=lease_token, now=now)
    stale = set(outputs) - set(done)
    if stale:
        fence = Fence(lease_token)
        with transaction.atomic():
            for task_id in stale:
                _record_stale(task_id, fence, "completed", now, detail={"output": outputs[task_id]})
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
    fence = _fence_of(task_id, lease_token, attempt)
    now = clock.now()
    with transaction.atomic():
        run = _lock_run_of(task_id)
        lookup = Task.objects.select_for_update().filter(fence.q(), id=task_id)
        if timed_out:  # a heartbeat may have extended the lease since the tick looked
            lookup = lookup.filter(lease_expires_at__lt=queue.db_now())
        task = lookup.first()
        if task is None:
            if not timed_out:
                _record_stale(task_id, fence, "failed", now, detail={"error": error})
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
                task.run_after = _due_in(delay)
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
        _close_agent_run(task_id, fence, outcome, now, error=error, error_type=error_type)
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
            _finish_run(run, RunStatus.FAILED, now, error=f"Step {task.step!r} failed: {error}")
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
    fence = _fence_of(task_id, lease_token, attempt)
    now = clock.now()
    with transaction.atomic():
        updated = Task.objects.filter(fence.q(), id=task_id).update(
            status=TaskStatus.QUEUED,
            resume=True,
            cursor=cursor,
            progress=progress,
            run_after=queue.db_now(),
            **_LEASE_CLEARED,
        )
        if not updated:
            _record_stale(task_id, fence, "continued", now, detail={"cursor": cursor})
            return False
        _close_agent_run(task_id, fence, AttemptOutcome.CONTINUED, now, detail={"cursor": cursor})
        queue.notify_ready()
    return True


def task_release(*, task_id: int, lease_token: uuid.UUID) -> bool:
    """Hand back a claimed task that never started (graceful shutdown): no attempt is spent."""
    fence = Fence(lease_token)
    now = clock.now()
    with transaction.atomic():
        updated = Task.objects.filter(fence.q(), id=task_id).update(
            status=TaskStatus.QUEUED, resume=True, run_after=queue.db_now(), **_LEASE_CLEARED
        )
        if updated:
            _close_agent_run(task_id, fence, AttemptOutcome.RELEASED, now)
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
    fence = _fence_of(task_id, lease_token, attempt)
    return queue.renew_lease(
        task_id=task_id, extend_seconds=extend_seconds, lease_token=fence.lease_token, attempt=fence.attempt
    )


def task_progress(
    *, task_id: int, progress: dict[str, Any], lease_token: uuid.UUID | None = None, attempt: int | None = None
) -> bool:
    """Store an attempt's progress report (shown to staff and on the status page)."""
    return bool(Task.objects.filter(_fence_of(task_id, lease_token, attempt).q(), id=task_id).update(progress=progress))


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
            if run.status == RunStatus.RUNNING and _advance(run, now):
                repaired += 1
    return repaired


# --- Operator acts, each recorded with who did it and when ------------------------------


def run_cancel(*, run: WorkflowRun, actor: Actor, reason: str = "") -> WorkflowRun:
    """Stop a running run: unfinished tasks are cancelled and late reports from them ignored."""
    now = clock.now()
    with transaction.atomic():
        run = _lock_run(run.id)
        if refusal := run_can_cancel(run):
            raise IllegalTransition(refusal)
        _cancel_unfinished(run, now)
        AgentRun.objects.filter(run=run, outcome=AttemptOutcome.RUNNING).update(
            outcome=AttemptOutcome.CANCELLED, finished_at=now
        )
        _finish_run(
            run, RunStatus.CANCELLED, now, error=f"Cancelled by {actor.label}" + (f": {reason}" if reason else "")
        )
        _record_act(actor, OperatorAction.Verb.CANCEL_RUN, run=run, detail={"reason": reason})
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
        run = _lock_run(run.id)
        if refusal := run_can_replay(run, mode=mode):
            raise IllegalTransition(refusal)
        targets = set(replay_plan(run, mode=mode, from_step=from_step))
        run.generation += 1
        tasks = list(run.tasks.select_for_update())
        kept = {t.step for t in tasks if t.step not in targets and t.status == TaskStatus.SUCCEEDED}
        for task in tasks:
            if task.step in targets:
                _reset_task(task, ready=set(task.needs) <= kept, key=_step_key(run, task.step), now=now)
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
        _record_act(actor, verb, run=run, detail={"steps": sorted(targets), "from_step": from_step})
        _call_status_hook(run)
        queue.notify_ready()
    return run


def task_retry(*, task: Task, actor: Actor) -> Task:
    """Retry one dead task now with a fresh set of attempts, or run a queued one without waiting."""
    now = clock.now()
    with transaction.atomic():
        run = _lock_run_of(task.id)
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
            _reset_task(task, ready=set(task.needs) <= done, key=_step_key(run, task.step), now=now)
            # In a failed run a cancelled step was stopped by fail-fast when the run failed
            # (a cancelled run cannot be retried): it goes back to the queue with the retry.
            for stopped in run.tasks.select_for_update().filter(status=TaskStatus.CANCELLED):
                ready = set(stopped.needs) <= done
                _reset_task(stopped, ready=ready, key=_step_key(run, stopped.step), now=now)
            run.status = RunStatus.RUNNING
            run.finished_at = None
            run.error = ""
            run.save(update_fields=["status", "finished_at", "error", "generation"])
            _call_status_hook(run)
        else:
            _reset_task(task, ready=True, key=task.idempotency_key, now=now)
        _record_act(actor, OperatorAction.Verb.RETRY_TASK, run=run, task=task, detail={})
        queue.notify_ready()
    return task


# --- Internals ----------------------------------------------------------------------


def _lock_run(run_id: Any) -> WorkflowRun:
    try:
        # NO KEY: see queue._PG_LOCK_RUN (a claim's foreign-key check must not wait for it).
        return WorkflowRun.objects.select_for_update(no_key=True).get(id=run_id)
    except WorkflowRun.DoesNotExist:
        raise NotFound(f"No workflow run {run_id}") from None


def _run_id_of(task_id: int) -> Any:
    row = Task.objects.filter(id=task_id).values_list("run_id").first()
    if row is None:
        raise NotFound(f"No task {task_id}")
    return row[0]


def _lock_run_of(task_id: int, run_id: Any = None) -> WorkflowRun | None:
    """Lock the task's run first: completions of one run are serialised, so a join step
    whose branches finish at the same moment is seen ready by exactly one of them."""
    if run_id is None:
        row = Task.objects.filter(id=task_id).values_list("run_id").first()
        if row is None:
            raise NotFound(f"No task {task_id}")
        run_id = row[0]
    return _lock_run(run_id) if run_id is not None else None


def _advance(run: WorkflowRun, now: datetime) -> bool:
    """Queue the waiting steps whose dependencies all succeeded; finish the run when all did,
    or fail it again when a dead step leaves it nothing to do (one of two dead steps retried)."""
    rows = list(run.tasks.values_list("id", "step", "status", "needs"))
    succeeded = {step for _, step, status, _ in rows if status == TaskStatus.SUCCEEDED}
    ready = [tid for tid, _, status, needs in rows if status == TaskStatus.WAITING and set(needs) <= succeeded]
    if ready:
        Task.objects.filter(id__in=ready, status=TaskStatus.WAITING).update(
            status=TaskStatus.QUEUED, run_after=queue.db_now()
        )
        queue.notify_ready()
    if len(succeeded) == len(rows):
        _finish_run(run, RunStatus.SUCCEEDED, now)
        return True
    active = any(status in (TaskStatus.QUEUED, TaskStatus.RUNNING) for _, _, status, _ in rows)
    dead = sorted(step for _, step, status, _ in rows if status in (TaskStatus.DEAD, TaskStatus.CANCELLED))
    if not ready and not active and dead:
        _finish_run(run, RunStatus.FAILED, now, error=f"Steps {dead} failed and nothing else can run")
        return True
    return bool(ready)


def _finish_run(run: WorkflowRun, status: str, now: datetime, *, error: str = "") -> None:
    if status == RunStatus.FAILED and _fails_fast(run):
        _stop_the_rest(run, now)
    run.status = status
    run.finished_at = now
    run.error = error
    run.save(update_fields=["status", "finished_at", "error"])
    _run_finished(run, status, error=error)


def _fails_fast(run: WorkflowRun) -> bool:
    """The run's own definition says so: a run keeps the definition it started with, so one started
    before the option keeps going on."""
    return bool(run.definition.get("fail_fast")) if isinstance(run.definition, dict) else False


def _stop_the_rest(run: WorkflowRun, now: datetime) -> None:
    """Fail-fast: a run failed for good does no more work. Its waiting and queued steps
    are cancelled; its running ones too, their lease cleared, so their heartbeats and reports
    are fenced off (recorded stale, never applied) and a side effect not yet performed is left
    undone (agents.side_effects renews first). A replay or a retry queues them again."""
    _cancel_unfinished(run, now)
    AgentRun.objects.filter(run=run, outcome=AttemptOutcome.RUNNING).update(
        outcome=AttemptOutcome.CANCELLED, finished_at=now, error="Its run failed (fail-fast)"
    )


def _cancel_unfinished(run: WorkflowRun, now: datetime) -> None:
    """Cancel the run's unfinished tasks. A running one is fenced off at once (a report needs
    status 'running'; a renewal too, so its lease is no longer renewed), but its attempt may
    still be executing: it keeps its lease expiry, and with it its concurrency slot until
    the lease runs out (queue.py, "holds a slot"), so a key's limit holds meanwhile."""
    Task.objects.filter(run=run, status__in=[TaskStatus.WAITING, TaskStatus.QUEUED]).update(
        status=TaskStatus.CANCELLED, finished_at=now, **_LEASE_CLEARED
    )
    Task.objects.filter(run=run, status=TaskStatus.RUNNING).update(
        status=TaskStatus.CANCELLED, finished_at=now, lease_token=None
    )


def _run_finished(run: WorkflowRun, status: str, *, error: str = "") -> None:
    """What follows a run's end, once its row says so: the workflow's status hook, the log, and
    the announcement (staff's mail is a receiver's: metrics.receivers)."""
    _call_status_hook(run)
    logger.info("run finished", extra={"action": "run_finish", "run_id": str(run.id), "status": status})
    signals.run_finished.send(sender=WorkflowRun, run=run, status=status, error=error)


def _call_status_hook(run: WorkflowRun) -> None:
    hook = run.definition.get("on_finish") if isinstance(run.definition, dict) else None
    if hook:
        import_string(hook)(run)


def _reset_task(task: Task, *, ready: bool, key: str | None, now: datetime) -> None:
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


def _close_agent_run(
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


def _record_stale(task_id: int, fence: Fence, report: str, now: datetime, *, detail: dict[str, Any]) -> None:
    """A report from an attempt that no longer holds the task: kept for the record, applied never."""
    task = Task.objects.filter(id=task_id).values("run_id", "action", "attempt", "status").first()
    if task is None:
        raise NotFound(f"No task {task_id}")
    AgentRun.objects.create(
        task_id=task_id,
        run_id=task["run_id"],
        action=task["action"],
        attempt=fence.attempt if fence.attempt is not None else task["attempt"],
        lease_token=None if fence.lease_token == _NO_CLAIM else fence.lease_token,
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


def _record_act(
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
