"""The queue: a fixed list of named operations (OPERATIONS), each implemented once for PostgreSQL
(orchestration/queue_pg.py, running the named statements of orchestration/queries.sql) and once
portably for SQLite (orchestration/queue_portable.py, the ORM), with the same signature; every
function below hands its call to the implementation for the connection's database. Services
call these, never an implementation, and never choose one themselves.
tests/test_queue_contract.py holds both to the same rules.

The queue is the `orchestration_task` table. A claim turns up to `limit` due, queued rows into
running ones and hands each a lease: a fencing token (new for every claim) and an expiry (now +
the task's timeout). Only the holder of the token may report the attempt's outcome, so a worker
that lost its lease can never overwrite the attempt that replaced it.

Postgres: `FOR UPDATE SKIP LOCKED` lets any number of workers claim at once without blocking on,
or double-claiming, each other's rows (queue_pg.py says how, limits included). SQLite: no row
locks, but every transaction opens with `BEGIN IMMEDIATE` (see settings), which takes the
database's single write lock up front, so a claim's select-then-update is atomic and a second
claimer waits its turn (queue_portable.py).

Time: on Postgres every lease expiry, renewal, recovery and due time is the database's clock,
never the calling host's (lease_now, db_now: orchestration/queue_shared.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from types import ModuleType
from typing import Any

from django.db import connection, transaction

from orchestration import queue_pg, queue_portable
from orchestration.conf import engine_settings
from orchestration.models import WorkflowRun
from orchestration.queue_shared import (
    NOTIFY_CHANNEL,
    ClaimedTask,
    InsertedTask,
    StepCompletion,
    concurrency_limits,
    db_now,
    is_postgres,
    lease_now,
)

# Every operation of the queue: each one a function of queue_pg and of queue_portable, with the
# same parameters, and one here that calls the implementation for the connection's database.
OPERATIONS = (
    "insert_task",
    "insert_tasks",
    "insert_run",
    "claim",
    "complete_claimed",
    "complete_step",
    "close_attempts",
    "renew_lease",
    "expired_leases",
    "work_in_hand",
    "next_due_at",
    "seconds_until_next_due",
)

# What the rest of the project imports from here: the operations, and the shared names
# (queue_shared.py's) re-exported so that no caller needs to know where they live.
__all__ = [
    *OPERATIONS,
    "NOTIFY_CHANNEL",
    "OPERATIONS",
    "ClaimedTask",
    "InsertedTask",
    "StepCompletion",
    "concurrency_limits",
    "database_time",
    "db_now",
    "implementation",
    "is_postgres",
    "lease_now",
    "notify_after_commit",
    "notify_ready",
    "queue_ready_steps",
]


def implementation() -> ModuleType:
    """The queue for the connection's database: PostgreSQL's statements, or the portable ORM."""
    return queue_pg if connection.vendor == "postgresql" else queue_portable


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
    """Insert one queued task (payload and retry policy as JSON); returns its id and times as
    stored, None if its idempotency key exists. `run_after` None: due at the database's now."""
    return implementation().insert_task(
        action=action,
        payload_json=payload_json,
        priority=priority,
        run_after=run_after,
        max_attempts=max_attempts,
        retry_json=retry_json,
        timeout_seconds=timeout_seconds,
        idempotency_key=idempotency_key,
        now=now,
        concurrency_key=concurrency_key,
    )


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
    """Insert queued tasks of one action; returns their ids in the payloads' order."""
    return implementation().insert_tasks(
        action=action,
        payloads=payloads,
        priority=priority,
        run_after=run_after,
        max_attempts=max_attempts,
        retry=retry,
        timeout_seconds=timeout_seconds,
        idempotency_key=idempotency_key,
        now=now,
        concurrency_key=concurrency_key,
    )


def insert_run(*, run: WorkflowRun, steps: list[dict[str, Any]], now: datetime) -> bool:
    """Insert a new run and one task per step (queued if it needs nothing, else waiting).
    False: the run's idempotency key exists, and nothing was inserted."""
    return implementation().insert_run(run=run, steps=steps, now=now)


def claim(*, limit: int, worker: str, now: datetime, run_id: Any = None) -> list[ClaimedTask]:
    """Claim up to `limit` due tasks for `worker` (of one run with `run_id`), each with a fresh
    lease and an open agent run, never more at once per key than its concurrency limit."""
    return implementation().claim(limit=limit, worker=worker, now=now, run_id=run_id)


def complete_claimed(*, outputs: dict[int, Any], lease_token: uuid.UUID, now: datetime) -> list[int]:
    """Mark the tasks of one claim succeeded with their outputs and close their attempts;
    returns the ids still held (the others' reports are stale)."""
    return implementation().complete_claimed(outputs=outputs, lease_token=lease_token, now=now)


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
    """Complete one task, inside the caller's transaction: the fenced update and its attempt;
    for a step of a running run also the steps it made ready, the run finished if this was its
    last step, and (PostgreSQL) the next step claimed for `handoff_to` if it asks. The caller
    fails the run if the result says nothing else can run."""
    return implementation().complete_step(
        task_id=task_id,
        run_id=run_id,
        output=output,
        now=now,
        lease_token=lease_token,
        attempt=attempt,
        handoff_to=handoff_to,
    )


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
    implementation().close_attempts(
        task_ids=task_ids,
        outcome=outcome,
        now=now,
        lease_token=lease_token,
        attempt=attempt,
        error=error,
        error_type=error_type,
        detail=detail,
    )


def renew_lease(
    *, task_id: int, extend_seconds: float, lease_token: uuid.UUID | None, attempt: int | None
) -> datetime | None:
    """Extend a running attempt's lease to at least now + `extend_seconds` (never shorter); its
    expiry, or None when the fence does not hold (the attempt lost the task)."""
    return implementation().renew_lease(
        task_id=task_id, extend_seconds=extend_seconds, lease_token=lease_token, attempt=attempt
    )


def expired_leases(*, limit: int = 100) -> list[tuple[int, uuid.UUID]]:
    """Running tasks whose lease ran out by the database's clock, as (id, token): their worker
    died or overran. No lock: each recovery is a conditional update fenced by the token and
    the expiry, so two ticks recovering at once cannot both apply it."""
    return implementation().expired_leases(limit=limit)


def work_in_hand() -> bool:
    """Whether any task is due now (by the database's clock) or running (what keeps a draining
    worker going)."""
    return implementation().work_in_hand()


def next_due_at() -> datetime | None:
    """When the earliest queued task becomes due (workers sleep until then at most)."""
    return implementation().next_due_at()


def seconds_until_next_due() -> float | None:
    """How long until the earliest queued task falls due, by the database's clock (a worker
    sleeps that long at most; its own clock may be off). None: nothing is queued."""
    return implementation().seconds_until_next_due()


# --- Helpers of every backend ---------------------------------------------------------------


def queue_ready_steps(run_id: Any) -> queue_portable.RunProgress:
    """Queue the run's waiting steps whose needs have all succeeded; the run's progress as it
    was just before. Through the ORM on every database: the stalled-run repair's step
    (transitions.advance), rare enough for its few statements, and the rule the portable
    completion queues by."""
    return queue_portable.queue_ready_steps(run_id)


def database_time() -> datetime:
    """The database's time now, as a value (one query on Postgres with the real clock)."""
    now = lease_now()
    if now is not None:
        return now
    return queue_pg.database_time()


def notify_after_commit() -> None:
    """Wake LISTENing workers once the current transaction has committed (or now, outside one),
    in a statement of its own: a transaction that only notifies writes no WAL, so Postgres's
    NOTIFY lock is held for microseconds instead of through a commit's flush. A process that
    dies between the two leaves idle workers to their poll interval (the worker's polling fallback)."""
    if is_postgres() and engine_settings.NOTIFY:
        transaction.on_commit(queue_pg.notify)


def notify_ready() -> None:
    """Wake LISTENing workers when the current transaction commits (Postgres only: nobody
    LISTENs to SQLite).

    NOTIFY is transactional and works through PgBouncer; LISTEN needs the direct URL.
    """
    if is_postgres() and engine_settings.NOTIFY:
        queue_pg.notify()
