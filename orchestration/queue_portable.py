"""The queue's operations where there is no PostgreSQL (SQLite): the twin of each operation of
orchestration/queue_pg.py, with the same signature and the same rows as its statements leave, by
the ORM. Callers go through orchestration/queue.py, which picks one by the connection's database.

Atomic by SQLite's single writer: the connection opens every transaction with `BEGIN IMMEDIATE`
(see settings), which takes the database's write lock up front, so each select-then-update below
runs inside a transaction and a second claimer waits its turn instead of reading the same rows.
On a database with row locks and concurrent writers (PostgreSQL) nothing here excludes a second
claimer: there, queue_pg's statements are the queue; these run on it only in the contract suite.

What SQLite has no use for is left out: no NOTIFY (nobody LISTENs to a file), and no handoff of
the next step to the completing worker (its next claim takes it, as every other worker's would).
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q

from orchestration import clock
from orchestration.conf import engine_settings
from orchestration.limits import ConcurrencyLimits
from orchestration.models import AgentRun, AttemptOutcome, RunStatus, Task, TaskStatus, WorkflowRun
from orchestration.queue_shared import (
    CLAIMED_COLUMNS,
    ClaimedTask,
    InsertedTask,
    StepCompletion,
    claimed_task,
    concurrency_limits,
    db_now,
    in_run_order,
)


def insert_task(
    *,
    action: str,
    payload_json: str,
    priority: int,
    run_after: datetime | None,
    max_attempts: int,
    retry_json: str,
    timeout_seconds: float,
    idempotency_key: str | None,
    now: datetime,
    concurrency_key: str = "",
) -> InsertedTask | None:
    """Insert one queued task; returns it as stored, None if its key exists. `run_after` None:
    due now."""
    task = Task(
        action=action,
        input=json.loads(payload_json),
        priority=priority,
        run_after=run_after or now,
        idempotency_key=idempotency_key,
        retry=json.loads(retry_json),
        max_attempts=max_attempts,
        timeout_seconds=timeout_seconds,
        status=TaskStatus.QUEUED,
        concurrency_key=concurrency_key,
    )
    with transaction.atomic():  # BEGIN IMMEDIATE: nobody inserts the key between the two
        if idempotency_key and Task.objects.filter(idempotency_key=idempotency_key).exists():
            return None
        task.save(force_insert=True)
    return InsertedTask(task.id, task.run_after, task.created_at)


def insert_tasks(
    *,
    action: str,
    payloads: list[dict[str, Any]],
    priority: int,
    run_after: datetime | None,
    max_attempts: int,
    retry: dict[str, Any],
    timeout_seconds: float,
    idempotency_key: str | None,
    now: datetime,
    concurrency_key: str = "",
) -> list[int]:
    """Insert queued tasks of one action; returns their ids in order (one key: one task at most)."""
    tasks = [
        Task(
            action=action,
            input=payload,
            priority=priority,
            run_after=run_after or now,
            idempotency_key=idempotency_key,
            retry=dict(retry),
            max_attempts=max_attempts,
            timeout_seconds=timeout_seconds,
            status=TaskStatus.QUEUED,
            concurrency_key=concurrency_key,
        )
        for payload in payloads
    ]
    with transaction.atomic():
        if idempotency_key:  # as ON CONFLICT DO NOTHING: the first of them, unless the key exists
            if Task.objects.filter(idempotency_key=idempotency_key).exists():
                return []
            tasks = tasks[:1]
        Task.objects.bulk_create(tasks, batch_size=500)
    return [t.id for t in tasks]


def insert_run(*, run: WorkflowRun, steps: list[dict[str, Any]], now: datetime) -> bool:
    """Insert a new run and its tasks, in one transaction. False: its idempotency key exists."""
    with transaction.atomic():  # BEGIN IMMEDIATE: nobody inserts the key between the two
        if run.idempotency_key and WorkflowRun.objects.filter(idempotency_key=run.idempotency_key).exists():
            return False
        run.save(force_insert=True)
        Task.objects.bulk_create([Task(run=run, run_after=now, **fields) for fields in steps])
    return True


def claim(*, limit: int, worker: str, now: datetime, run_id: Any = None) -> list[ClaimedTask]:
    """Claim up to `limit` due tasks for `worker` (of one run with `run_id`), each with a fresh
    lease and an open agent run, never more at once per key than its concurrency limit."""
    if limit <= 0:
        return []
    token = uuid.uuid4()  # one token per claim is unique per (task, claim): a claim takes a task once
    with transaction.atomic():  # BEGIN IMMEDIATE: nobody writes between the select and the updates
        rows = claim_rows(limit=limit, worker=worker, now=now, token=token, run_id=run_id, limits=concurrency_limits())
        claimed = [claimed_task(row, token, now) for row in rows]
        _open_attempts(claimed, token=token, worker=worker, now=now)
    return in_run_order(claimed)


def claim_rows(
    *,
    limit: int,
    worker: str,
    now: datetime,
    token: uuid.UUID,
    run_id: Any = None,
    limits: ConcurrencyLimits | None = None,
) -> list[tuple]:
    """The claim's rows, turned running, in the order of queries.sql's claim: priority, due time,
    id; one workflow step per claim; limited keys within their free slots. Inside the caller's
    transaction."""
    due = Task.objects.filter(status=TaskStatus.QUEUED, run_after__lte=now)
    if run_id:
        due = due.filter(run_id=run_id)
    columns = ("id", "attempt", "resume", "timeout_seconds", "started_at")
    ordered = due.order_by("-priority", "run_after", "id")
    if limits:
        eligible = pick_within_limits(
            ordered.values_list(*columns, "run_id", "concurrency_key"), limit, limits, now=now
        )
    else:
        eligible = list(ordered.values_list(*columns, "run_id")[:limit])
    # One workflow step at most, as queries.sql's pick_eligible takes.
    steps = [row[:-1] for row in eligible if row[-1] is not None][:1]
    picked = [row[:-1] for row in eligible if row[-1] is None] + steps
    for task_id, attempt, resume, timeout, started_at in picked:
        expires = now + timedelta(seconds=min(timeout, engine_settings.LEASE_SECONDS))
        new_attempt = attempt if resume else attempt + 1
        Task.objects.filter(id=task_id, status=TaskStatus.QUEUED).update(
            status=TaskStatus.RUNNING,
            attempt=new_attempt,
            resume=False,
            lease_token=token,
            lease_expires_at=expires,
            claimed_by=worker,
            started_at=started_at or now,
        )
    if not picked:
        return []
    return list(Task.objects.filter(id__in=[p[0] for p in picked]).values_list(*CLAIMED_COLUMNS))


def pick_within_limits(candidates: Any, limit: int, limits: ConcurrencyLimits, *, now: datetime) -> list[tuple]:
    """Due rows in claim order, skipping those whose key has no free slot, and at most one
    row per limited key (as queries.sql's claim_limited does; slots held as "holds a slot" says)."""
    holds_a_slot = Q(status=TaskStatus.RUNNING) | Q(status=TaskStatus.CANCELLED, lease_expires_at__gt=now)
    running_keys = Task.objects.filter(holds_a_slot).exclude(concurrency_key="")
    running = Counter(running_keys.values_list("concurrency_key", flat=True))
    taken: set[str] = set()
    picked = []
    for *row, key in candidates.iterator(chunk_size=500):
        cap = limits.limit_of(key)
        if cap is not None:
            if running[key] >= cap or key in taken:
                continue
            taken.add(key)
        picked.append(tuple(row))
        if len(picked) >= limit:
            break
    return picked


def _open_attempts(claimed: list[ClaimedTask], *, token: uuid.UUID, worker: str, now: datetime) -> None:
    AgentRun.objects.bulk_create(
        [
            AgentRun(
                task_id=t.id,
                run_id=t.run_id,
                action=t.action,
                attempt=t.attempt,
                lease_token=token,
                worker=worker,
                started_at=now,
            )
            for t in claimed
        ]
    )


_SUCCEEDED = {
    "status": TaskStatus.SUCCEEDED,
    "cursor": None,
    "last_error": "",
    "lease_token": None,
    "lease_expires_at": None,
}


def complete_claimed(*, outputs: dict[int, Any], lease_token: uuid.UUID, now: datetime) -> list[int]:
    """Mark the tasks of one claim succeeded with their outputs and close their attempts, in one
    transaction; returns the ids still held (the others' reports are stale)."""
    if not outputs:
        return []
    done = []
    with transaction.atomic():
        for task_id, output in outputs.items():
            held = Task.objects.filter(id=task_id, lease_token=lease_token, status=TaskStatus.RUNNING)
            if held.update(output=output, finished_at=now, **_SUCCEEDED):
                done.append(task_id)
        close_attempts(task_ids=done, outcome=AttemptOutcome.SUCCEEDED, now=now, lease_token=lease_token)
    return done


def complete_step(
    *,
    task_id: int,
    run_id: Any,
    output: Any,
    now: datetime,
    lease_token: uuid.UUID | None = None,
    attempt: int | None = None,
    handoff_to: str | None = None,
) -> StepCompletion:
    """Complete one task inside the caller's transaction: for a step of a run, the run's lock,
    then the fenced update, its attempt closed, the steps it made ready queued and the run
    finished (succeeded) if this was its last step; for a plain task (`run_id` None) the fenced
    update and its attempt only. Never hands a step off (`handoff_to` is queue_pg's shortcut):
    the step it made ready is queued for the next claim."""
    with transaction.atomic(savepoint=False):
        run_status = None
        if run_id is not None:
            # The lock serialises the completions of one run, so a join step whose branches
            # finish at the same moment is seen ready by exactly one of them.
            locked = WorkflowRun.objects.select_for_update(no_key=True).filter(id=run_id)
            run_status = locked.values_list("status", flat=True).first()
        fence = _fence(Q(id=task_id, status=TaskStatus.RUNNING), lease_token, attempt)
        applied = bool(Task.objects.filter(fence).update(output=output, finished_at=now, **_SUCCEEDED))
        if applied:
            close_attempts(
                task_ids=[task_id], outcome=AttemptOutcome.SUCCEEDED, now=now, lease_token=lease_token, attempt=attempt
            )
        if run_status is None:
            return StepCompletion(
                run_status=None,
                applied=applied,
                ready=0,
                total=0,
                succeeded=0,
                active=0,
                dead=[],
                queued=0,
                handoff=None,
            )
        going_on = applied and run_status == RunStatus.RUNNING  # only a running run advances
        progress = queue_ready_steps(run_id) if going_on else run_progress(run_id)
        ready = len(progress.ready) if going_on else 0
        finished = None
        if going_on and progress.succeeded == progress.total:
            WorkflowRun.objects.filter(id=run_id, status=RunStatus.RUNNING).update(
                status=RunStatus.SUCCEEDED, finished_at=now, error=""
            )
            finished = WorkflowRun.objects.get(id=run_id)
    return StepCompletion(
        run_status=run_status,
        applied=applied,
        ready=ready,
        total=progress.total,
        succeeded=progress.succeeded,
        active=progress.active,
        dead=progress.dead,
        queued=ready,
        handoff=None,
        finished_run=finished,
    )


@dataclass(frozen=True)
class RunProgress:
    """A run's steps as they stand: how many, how many succeeded, queued or running, which are
    dead (or cancelled), and the waiting ones whose needs have all succeeded."""

    total: int
    succeeded: int
    active: int
    dead: list[str]
    ready: list[int]


def run_progress(run_id: Any) -> RunProgress:
    rows = list(Task.objects.filter(run_id=run_id).values_list("id", "step", "status", "needs"))
    succeeded = {step for _, step, status, _ in rows if status == TaskStatus.SUCCEEDED}
    return RunProgress(
        total=len(rows),
        succeeded=len(succeeded),
        active=sum(status in (TaskStatus.QUEUED, TaskStatus.RUNNING) for _, _, status, _ in rows),
        dead=sorted(step for _, step, status, _ in rows if status in (TaskStatus.DEAD, TaskStatus.CANCELLED)),
        ready=[tid for tid, _, status, needs in rows if status == TaskStatus.WAITING and set(needs) <= succeeded],
    )


def queue_ready_steps(run_id: Any) -> RunProgress:
    """Queue the run's waiting steps whose needs have all succeeded (due at the database's now);
    the run's progress as it was just before (its ready steps are the ones queued). Also what
    the stalled-run repair advances a run by (transitions.advance), on every database."""
    progress = run_progress(run_id)
    if progress.ready:
        Task.objects.filter(id__in=progress.ready, status=TaskStatus.WAITING).update(
            status=TaskStatus.QUEUED, run_after=db_now()
        )
    return progress


def close_attempts(
    *,
    task_ids: list[int],
    outcome: str,
    now: datetime,
    lease_token: uuid.UUID | None = None,
    attempt: int | None = None,
    error: str = "",
    error_type: str = "",
    detail: Any = None,
) -> None:
    """Record how the open attempts of these tasks (the holders of the fence) ended."""
    if not task_ids:
        return
    runs = AgentRun.objects.filter(_fence(Q(task_id__in=task_ids, outcome="running"), lease_token, attempt))
    for agent_run in runs:
        agent_run.outcome = outcome
        agent_run.finished_at = now
        agent_run.duration_ms = (now - agent_run.started_at).total_seconds() * 1000
        agent_run.error = error
        agent_run.error_type = error_type
        agent_run.detail = detail
        agent_run.save(update_fields=["outcome", "finished_at", "duration_ms", "error", "error_type", "detail"])


def _fence(q: Q, lease_token: uuid.UUID | None, attempt: int | None) -> Q:
    """`q` held by this attempt: its token and/or its number, whichever the report names."""
    if lease_token is not None:
        q &= Q(lease_token=lease_token)
    if attempt is not None:
        q &= Q(attempt=attempt)
    return q


def renew_lease(
    *, task_id: int, extend_seconds: float, lease_token: uuid.UUID | None, attempt: int | None
) -> datetime | None:
    """Extend a running attempt's lease to at least now + `extend_seconds`; its expiry, or None
    when the fence does not hold (the attempt lost the task)."""
    fence = _fence(Q(id=task_id, status=TaskStatus.RUNNING), lease_token, attempt)
    with transaction.atomic():  # BEGIN IMMEDIATE: nobody writes between the read and the update
        current = Task.objects.filter(fence).values_list("lease_expires_at", flat=True).first()
        if current is None:
            return None
        expires = max(current, clock.now() + timedelta(seconds=extend_seconds))
        Task.objects.filter(fence).update(lease_expires_at=expires)
    return expires


def expired_leases(*, limit: int = 100) -> list[tuple[int, uuid.UUID]]:
    """Running tasks whose lease ran out: their worker died or overran (no lock: see queries.sql)."""
    return list(
        Task.objects.filter(status=TaskStatus.RUNNING, lease_expires_at__lt=db_now())
        .order_by("lease_expires_at")
        .values_list("id", "lease_token")[:limit]
    )


def work_in_hand() -> bool:
    """Whether any task is due now or running (what keeps a draining worker going)."""
    due = Q(status=TaskStatus.QUEUED, run_after__lte=db_now())
    return Task.objects.filter(due | Q(status=TaskStatus.RUNNING)).exists()


def next_due_at() -> datetime | None:
    """When the earliest queued task becomes due."""
    return (
        Task.objects.filter(status=TaskStatus.QUEUED).order_by("run_after").values_list("run_after", flat=True).first()
    )


def seconds_until_next_due() -> float | None:
    """How long until the earliest queued task falls due (the host's clock is the database's)."""
    due = next_due_at()
    return None if due is None else (due - clock.now()).total_seconds()
