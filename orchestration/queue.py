"""The queue: a fixed list of named operations (OPERATIONS), each implemented once for PostgreSQL
(orchestration/queue_pg.py, running the named statements of orchestration/queries.sql) and once
portably for SQLite (orchestration/queue_portable.py, the ORM), with the same signature; every
function below hands its call to the implementation for the connection's database. Services
call these, never an implementation, and never choose one themselves.
tests/integration/orchestration/test_queue_contract.py holds both to the same rules.

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

import functools
from collections.abc import Callable
from datetime import datetime
from types import ModuleType
from typing import Any, ParamSpec, TypeVar

from django.db import connection, transaction

from orchestration import queue_pg, queue_portable
from orchestration.conf import engine_settings
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


P = ParamSpec("P")
R = TypeVar("R")


def implementation() -> ModuleType:
    """The queue for the connection's database: PostgreSQL's statements, or the portable ORM."""
    return queue_pg if connection.vendor == "postgresql" else queue_portable


def _call(name: str, /, *args: Any, **kwargs: Any) -> Any:
    """The operation `name`, called as it came on the implementation of the connection's database."""
    return getattr(implementation(), name)(*args, **kwargs)


# Not mutated (make mutate): it runs once, at import, where mutmut runs the original; a mutant of
# it could never be switched in. What it builds hands each call to `_call` above.
def _operation(portable: Callable[P, R], doc: str) -> Callable[P, R]:  # pragma: no mutate block
    """The queue's face of one operation: the parameters of its implementations (the guard in
    tests/integration/orchestration/test_queue_contract.py holds both to one signature), `doc`
    for what it promises, and each call handed to `_call`."""
    name = portable.__name__

    def operation(*args: P.args, **kwargs: P.kwargs) -> R:
        return _call(name, *args, **kwargs)

    functools.update_wrapper(operation, portable)
    operation.__doc__ = doc
    operation.__module__ = __name__
    return operation


insert_task = _operation(
    queue_portable.insert_task,
    """Insert one queued task (payload and retry policy as JSON); returns its id and times as
    stored, None if its idempotency key exists. `run_after` None: due at the database's now.""",
)


insert_tasks = _operation(
    queue_portable.insert_tasks,
    """Insert queued tasks of one action; returns their ids in the payloads' order.""",
)


insert_run = _operation(
    queue_portable.insert_run,
    """Insert a new run and one task per step (queued if it needs nothing, else waiting).
    False: the run's idempotency key exists, and nothing was inserted.""",
)


claim = _operation(
    queue_portable.claim,
    """Claim up to `limit` due tasks for `worker` (of one run with `run_id`), each with a fresh
    lease and an open agent run, never more at once per key than its concurrency limit.""",
)


complete_claimed = _operation(
    queue_portable.complete_claimed,
    """Mark the tasks of one claim succeeded with their outputs and close their attempts;
    returns the ids still held (the others' reports are stale).""",
)


complete_step = _operation(
    queue_portable.complete_step,
    """Complete one task, inside the caller's transaction: the fenced update and its attempt;
    for a step of a running run also the steps it made ready, the run finished if this was its
    last step, and (PostgreSQL) the next step claimed for `handoff_to` if it asks. The caller
    fails the run if the result says nothing else can run.""",
)


close_attempts = _operation(
    queue_portable.close_attempts,
    """Record how the open attempts of these tasks (the holders of the fence) ended.""",
)


renew_lease = _operation(
    queue_portable.renew_lease,
    """Extend a running attempt's lease to at least now + `extend_seconds` (never shorter); its
    expiry, or None when the fence does not hold (the attempt lost the task).""",
)


expired_leases = _operation(
    queue_portable.expired_leases,
    """Running tasks whose lease ran out by the database's clock, as (id, token): their worker
    died or overran. No lock: each recovery is a conditional update fenced by the token and
    the expiry, so two ticks recovering at once cannot both apply it.""",
)


work_in_hand = _operation(
    queue_portable.work_in_hand,
    """Whether any task is due now (by the database's clock) or running (what keeps a draining
    worker going).""",
)


next_due_at = _operation(
    queue_portable.next_due_at,
    """When the earliest queued task becomes due (workers sleep until then at most).""",
)


seconds_until_next_due = _operation(
    queue_portable.seconds_until_next_due,
    """How long until the earliest queued task falls due, by the database's clock (a worker
    sleeps that long at most; its own clock may be off). None: nothing is queued.""",
)


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
