"""The queue's operations on PostgreSQL: each one runs the named statements of
orchestration/queries.sql (where each says why it is written as it is). The portable twin of
every operation, for SQLite, is orchestration/queue_portable.py; callers go through
orchestration/queue.py, which picks one by the connection's database.

`FOR UPDATE SKIP LOCKED` lets any number of workers claim at once without blocking on, or
double-claiming, each other's rows. It needs no session state, so it works through Neon's pooler
(PgBouncer, transaction mode).

Concurrency limits (orchestration/limits.py): with limits configured, a claim first takes a
transaction-level advisory lock on each limited key that has due work
(`pg_try_advisory_xact_lock`: no session state, so it works through PgBouncer too), then counts
that key's running attempts in a *second* statement, whose snapshot sees every claim committed
before the lock was granted. A key another claimer is holding is skipped this time, like a row
under SKIP LOCKED. When the rows a claim would take include no limited key, the locks are not
needed: the one-statement claim takes them (and stands back, taking nothing, the moment it sees a
limited row among them).

Round trips and commits are the cost of a durable queue, so each state change is one statement
where it can be: a claim is one autocommitted statement (rows turned running, their attempt rows
inserted, their inputs read), a batch of plain completions is one, and a workflow step's
completion is one statement after the lock on its run (the completion, its attempt row, the steps
it made ready, and, for the worker that asks, the claim of the next step).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from django.db import connection, transaction

from orchestration import clock, pg
from orchestration.conf import engine_settings
from orchestration.limits import ConcurrencyLimits
from orchestration.models import WorkflowRun
from orchestration.queue_shared import (
    NOTIFY_CHANNEL,
    ClaimedTask,
    InsertedTask,
    StepCompletion,
    claimed_task,
    concurrency_limits,
    in_run_order,
    lease_now,
)
from orchestration.sql import load_queries

# Every statement of the queue on PostgreSQL, by name, with why it is written as it is.
QUERIES = load_queries(Path(__file__).with_name("queries.sql"))


# The statements' "now": the database's own clock, unless the caller's `now` must stand
# (lease_now). `statement_timestamp()`, not `now()` (the transaction's start): one instant for
# every CTE of a statement, and the same clock as Django's `Now()` in the ORM's updates, even
# inside a long transaction.
NOW = "COALESCE(%(now)s::timestamptz, statement_timestamp())"


def _with_db_now(sql: str) -> str:
    """`sql` with every `%(now)s` read through NOW (statements of this module only)."""
    return sql.replace("%(now)s", NOW)


_CLAIM_PICKED = QUERIES["claim_picked"]


def _then_claim_picked(*picking_ctes: str, then: str = "") -> str:
    """A whole claim statement: the CTEs that choose `picked`, then _CLAIM_PICKED (constants only)."""
    return _with_db_now("".join(picking_ctes) + _CLAIM_PICKED + then)


_BLOCKED_MARKER = QUERIES["blocked_marker"]


_PICK_ELIGIBLE = QUERIES["pick_eligible"]

_PG_CLAIM = _then_claim_picked(
    QUERIES["claim"],
    _PICK_ELIGIBLE,
    then=_BLOCKED_MARKER,
)

_PG_LOCK_LIMITED_KEYS = _with_db_now(QUERIES["lock_limited_keys"])

_PG_CLAIM_LIMITED = _then_claim_picked(
    QUERIES["claim_limited"],
    _PICK_ELIGIBLE,
)


_PG_INSERT_ONE = _with_db_now(QUERIES["insert_one"])
_PG_INSERT_ONE_NOTIFY = _PG_INSERT_ONE.format(notify=", pg_notify(%(channel)s, '')")
_PG_INSERT_ONE_QUIET = _PG_INSERT_ONE.format(notify="")


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
    """Insert one queued task and wake idle workers, in one statement; returns it as stored,
    None if its key exists. `run_after` None: due at the database's now."""
    rows = pg.execute(
        _PG_INSERT_ONE_NOTIFY if engine_settings.NOTIFY else _PG_INSERT_ONE_QUIET,
        {
            "action": action,
            "priority": priority,
            "run_after": run_after,
            "max_attempts": max_attempts,
            "retry": retry_json,
            "timeout": float(timeout_seconds),
            "payload": payload_json,
            "key": idempotency_key,
            "now": lease_now(now),
            "channel": NOTIFY_CHANNEL,
            "concurrency_key": concurrency_key,
        },
    )
    return InsertedTask(*rows[0][:3]) if rows else None


_PG_INSERT = _with_db_now(QUERIES["insert"])
_PG_INSERT_NOTIFY = _PG_INSERT.format(notify=", pg_notify(%(channel)s, '')")
_PG_INSERT_QUIET = _PG_INSERT.format(notify="")


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
    """Insert queued tasks of one action in one statement; returns their ids in order."""
    rows = pg.execute(
        _PG_INSERT_NOTIFY if engine_settings.NOTIFY else _PG_INSERT_QUIET,
        {
            "action": action,
            "priority": priority,
            "run_after": run_after,
            "max_attempts": max_attempts,
            "retry": json.dumps(retry),
            "timeout": timeout_seconds,
            "payloads": [json.dumps(p) for p in payloads],
            "key": idempotency_key,
            "now": lease_now(now),
            "channel": NOTIFY_CHANNEL,
            "concurrency_key": concurrency_key,
        },
    )
    return list(rows[0][0] or []) if rows else []


_PG_INSERT_RUN = _with_db_now(QUERIES["insert_run"])
_PG_INSERT_RUN_NOTIFY = _PG_INSERT_RUN.format(notify=", (SELECT pg_notify(%(channel)s, '') FROM run)")
_PG_INSERT_RUN_QUIET = _PG_INSERT_RUN.format(notify="")


def insert_run(*, run: WorkflowRun, steps: list[dict[str, Any]], now: datetime) -> bool:
    """Insert a new run and its tasks in one statement. False: its idempotency key exists."""
    sql = _PG_INSERT_RUN_NOTIFY if engine_settings.NOTIFY else _PG_INSERT_RUN_QUIET
    [row] = pg.execute(
        sql,
        {
            "id": run.id,
            "workflow": run.workflow,
            "version": run.version,
            "definition": json.dumps(run.definition),
            "subject_type_id": run.subject_type_id,
            "subject_id": run.subject_id,
            "input": json.dumps(run.input),
            "key": run.idempotency_key,
            "generation": run.generation,
            "created_at": run.created_at,
            "now": lease_now(now),
            "steps": [s["step"] for s in steps],
            "actions": [s["action"] for s in steps],
            "needs": [json.dumps(s["needs"]) for s in steps],
            "priorities": [s["priority"] for s in steps],
            "max_attempts": [s["max_attempts"] for s in steps],
            "retries": [json.dumps(s["retry"]) for s in steps],
            "timeouts": [float(s["timeout_seconds"]) for s in steps],
            "keys": [s["idempotency_key"] for s in steps],
            "concurrency_keys": [s["concurrency_key"] for s in steps],
            "channel": NOTIFY_CHANNEL,
        },
    )
    return bool(row[0])


# A per-process hint, never a rule: whether the last claim met due work of a limited key. While
# it did, claims go straight down the locking path instead of first trying the one-statement
# claim (which would only stand back again); once a locking claim finds no limited key with
# due work, the one-statement claim is tried again. Either way the result is the same.
_limited_work_seen = False


def claim(*, limit: int, worker: str, now: datetime, run_id: Any = None) -> list[ClaimedTask]:
    """Claim up to `limit` due tasks for `worker` (of one run with `run_id`), each with a fresh
    lease and an open agent run, never more at once per key than its concurrency limit."""
    if limit <= 0:
        return []
    token = uuid.uuid4()  # one token per claim is unique per (task, claim): a claim takes a task once
    params = {
        "now": lease_now(now),
        "limit": limit,
        "token": token,
        "worker": worker,
        "lease": engine_settings.LEASE_SECONDS,
        "run_id": str(run_id) if run_id else None,
    }
    rows = _pg_claim(params, concurrency_limits())
    return in_run_order([claimed_task(row[1:13], token, now, inputs=row[13] or {}) for row in rows])


def _pg_claim(params: dict[str, Any], limits: ConcurrencyLimits) -> list[tuple]:
    global _limited_work_seen
    patterns = limits.like_patterns() if limits else []
    if not (limits and _limited_work_seen):
        rows = pg.execute(_PG_CLAIM, {**params, "patterns": patterns})
        if not rows or not rows[-1][0]:  # not blocked: the claim is done, in one statement
            return rows
        _limited_work_seen = True
    with transaction.atomic():
        window = pg.execute(_PG_LOCK_LIMITED_KEYS, {**params, **_limit_arrays(limits), "patterns": patterns})
        _limited_work_seen = any(limited for _, _, limited, _ in window)
        held = limits.limited({key for _, key, limited, locked in window if limited and locked and key is not None})
        ids = [task_id for task_id, _, limited, locked in window if task_id is not None and (locked or not limited)]
        if not ids:
            return []
        return pg.execute(
            _PG_CLAIM_LIMITED,
            {**params, "patterns": patterns, "ids": ids, "held": list(held), "limits": list(held.values())},
        )


def _limit_arrays(limits: ConcurrencyLimits) -> dict[str, list[Any]]:
    """The limits as the arrays _PG_LOCK_LIMITED_KEYS reads (exact keys; prefixes as LIKE patterns)."""
    exact = list(limits.exact.items())
    prefixes = list(limits.prefixes)
    patterns = limits.like_patterns()[len(exact) :]  # like_patterns lists the exact keys first
    return {
        "exact_keys": [k for k, _ in exact],
        "exact_limits": [v for _, v in exact],
        "prefix_patterns": patterns,
        "prefix_lengths": [len(p) for p, _ in prefixes],
        "prefix_limits": [v for _, v in prefixes],
    }


_PG_COMPLETE = _with_db_now(QUERIES["complete"])


def complete_claimed(*, outputs: dict[int, Any], lease_token: uuid.UUID, now: datetime) -> list[int]:
    """Mark the tasks of one claim succeeded with their outputs and close their attempts, in one
    statement; returns the ids still held (the others' reports are stale)."""
    if not outputs:
        return []
    ids = list(outputs)
    rows = pg.execute(
        _PG_COMPLETE,
        {"ids": ids, "outputs": [json.dumps(outputs[i]) for i in ids], "token": lease_token, "now": lease_now(now)},
    )
    return [row[0] for row in rows]


_PG_LOCK_RUN = QUERIES["lock_run"]

# The run's columns in the model's field order, for WorkflowRun.from_db (a finished run).
_RUN_FIELDS = [f.attname for f in WorkflowRun._meta.concrete_fields]
_RUN_COLUMNS = ", ".join(f"w.{f.column}" for f in WorkflowRun._meta.concrete_fields)
_PG_COMPLETE_STEP = _with_db_now(QUERIES["complete_step"].format(run_columns=_RUN_COLUMNS))


def _run_from_row(row: list[Any]) -> WorkflowRun:
    """A WorkflowRun from its columns, each through its field's database converter (JSON arrives
    as text through Django's loaders), as the ORM would load it."""
    values = [
        f.from_db_value(value, None, connection) if hasattr(f, "from_db_value") else value
        for f, value in zip(WorkflowRun._meta.concrete_fields, row, strict=True)
    ]
    return WorkflowRun.from_db(connection.alias, _RUN_FIELDS, values)


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
    then the fenced update, its attempt closed, the steps it made ready queued, the run finished
    (succeeded) if this was its last step, and the next step claimed for `handoff_to` if it asks;
    for a plain task (`run_id` None) the fenced update and its attempt only. The caller fails the
    run if the result says nothing else can run."""
    token = uuid.uuid4()
    limits = concurrency_limits()
    sql = _PG_COMPLETE_STEP
    params = {
        "id": task_id,
        "run_id": str(run_id) if run_id is not None else None,
        "output": json.dumps(output),
        "now": lease_now(now),
        "token": lease_token,
        "attempt": attempt,
        "worker": handoff_to,
        "patterns": limits.like_patterns() if limits else [],
        "handoff_token": token,
        "lease": engine_settings.LEASE_SECONDS,
    }
    if run_id is None:
        [row] = pg.execute(sql, params)
    else:
        _, [row] = pg.execute_pipelined([(_PG_LOCK_RUN, {"run_id": params["run_id"]}), (sql, params)])
    run_status, applied, ready, total, succeeded, active, dead, queued, *rest = row
    handed, finished = rest[:13], rest[13:]
    handoff = None
    if handed[0] is not None:
        handoff = claimed_task(tuple(handed[:12]), token, clock.now(), inputs=handed[12] or {})
    run = None
    if finished[0] is not None:
        run = _run_from_row(finished)
    return StepCompletion(
        finished_run=run,
        run_status=run_status,
        applied=bool(applied),
        ready=ready,
        total=total,
        succeeded=succeeded,
        active=active,
        dead=list(dead),
        queued=queued,
        handoff=handoff,
    )


_PG_CLOSE_ATTEMPTS = _with_db_now(QUERIES["close_attempts"])


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
    """Record how the open attempts of these tasks (the holders of the fence) ended, in one statement."""
    if not task_ids:
        return
    pg.execute(
        _PG_CLOSE_ATTEMPTS,
        {
            "ids": list(task_ids),
            "outcome": outcome,
            "now": lease_now(now),
            "token": lease_token,
            "attempt": attempt,
            "error": error,
            "error_type": error_type,
            "detail": None if detail is None else json.dumps(detail),
        },
    )


_PG_RENEW = _with_db_now(QUERIES["renew"])


def renew_lease(
    *, task_id: int, extend_seconds: float, lease_token: uuid.UUID | None, attempt: int | None
) -> datetime | None:
    """Extend a running attempt's lease to at least now + `extend_seconds`; its expiry, or None
    when the fence does not hold (the attempt lost the task)."""
    params = {
        "id": task_id,
        "extend": float(extend_seconds),
        "token": lease_token,
        "attempt": attempt,
        "now": lease_now(),
    }
    rows = pg.execute(_PG_RENEW, params)
    return rows[0][0] if rows else None


_PG_EXPIRED_LEASES = _with_db_now(QUERIES["expired_leases"])


def expired_leases(*, limit: int = 100) -> list[tuple[int, uuid.UUID]]:
    """Running tasks whose lease ran out by the database's clock: their worker died or overran."""
    return [(task_id, token) for task_id, token in pg.execute(_PG_EXPIRED_LEASES, {"now": lease_now(), "limit": limit})]


_PG_WORK_IN_HAND = _with_db_now(QUERIES["work_in_hand"])


def work_in_hand() -> bool:
    """Whether any task is due now (by the database's clock) or running."""
    [(found,)] = pg.execute(_PG_WORK_IN_HAND, {"now": lease_now()})
    return bool(found)


def next_due_at() -> datetime | None:
    """When the earliest queued task becomes due (one row of the claim index: workers ask it
    every time they go idle)."""
    rows = pg.execute(QUERIES["next_due_at"], {})
    return rows[0][0] if rows else None


def seconds_until_next_due() -> float | None:
    """How long until the earliest queued task falls due, by the database's clock (by the
    engine's, when a test has set it)."""
    if lease_now() is None:
        rows = pg.execute(QUERIES["seconds_until_next_due"], {})
        return rows[0][0] if rows else None
    due = next_due_at()
    return None if due is None else (due - clock.now()).total_seconds()


def database_time() -> datetime:
    """The database's time now, as a value."""
    return pg.execute(QUERIES["database_time"], {})[0][0]


def notify() -> None:
    """Wake LISTENing workers when the current transaction commits (now, outside one)."""
    pg.execute(QUERIES["notify"], {"channel": NOTIFY_CHANNEL})
