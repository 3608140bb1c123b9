"""The queue's SQL, all of it, in one place (E3, E4).

The queue is the `orchestration_task` table. A claim turns up to `limit` due,
queued rows into running ones in a single statement and hands each a lease:
a fencing token (new for every claim) and an expiry (now + the task's
timeout). Only the holder of the token may report the attempt's outcome, so a
worker that lost its lease can never overwrite the attempt that replaced it.

Postgres: `FOR UPDATE SKIP LOCKED` lets any number of workers claim at once
without blocking on, or double-claiming, each other's rows. It needs no session
state, so it works through Neon's pooler (PgBouncer, transaction mode).

SQLite: no row locks, but the connection opens every transaction with
`BEGIN IMMEDIATE` (see settings), which takes the database's single write lock
up front; the select-then-update below is therefore atomic, and a second
claimer waits its turn instead of reading the same rows.

Concurrency limits (E13, orchestration/limits.py): with limits configured, a
claim first takes a transaction-level advisory lock on each limited key that
has due work (`pg_try_advisory_xact_lock`: no session state, so it works
through PgBouncer too), then counts that key's running attempts in a *second*
statement, whose snapshot sees every claim committed before the lock was
granted. A key another claimer is holding is skipped this time, like a row
under SKIP LOCKED.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from orchestration.limits import ConcurrencyLimits, parse_limits
from orchestration.models import AgentRun, Task, TaskStatus

NOTIFY_CHANNEL = "orchestration_tasks"


@dataclass(frozen=True)
class ClaimedTask:
    """What an executor needs to run one claimed attempt, without another query."""

    id: int
    run_id: str | None
    step: str
    action: str
    needs: list[str]
    attempt: int
    max_attempts: int
    input: dict[str, Any]
    cursor: Any
    timeout_seconds: float
    lease_token: uuid.UUID
    lease_expires_at: datetime
    claimed_at: datetime
    idempotency_key: str


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


# Why each clause is there:
# - `status = 'queued' AND run_after <= now`: due work only; retries wait in run_after.
# - `ORDER BY priority DESC, run_after, id`: priority first, then oldest due first;
#   it matches the partial index `task_claim_order`, so the scan stops after `limit` rows.
# - `FOR UPDATE SKIP LOCKED`: rows another claimer is taking are skipped, not waited on.
# - `attempt + CASE WHEN resume ...`: a continuation (E8) goes on with the same attempt.
# - `lease_token`, `lease_expires_at`: the fence and the lease (E4): the shorter of the
#   step's timeout and LEASE_SECONDS; a running attempt renews it (heartbeat.py).
# `_CLAIM_PICKED` is the second half of every claim: it turns the `picked` rows into running ones.
_CLAIM_PICKED = """
UPDATE orchestration_task AS t
SET status = 'running',
    attempt = t.attempt + CASE WHEN t.resume THEN 0 ELSE 1 END,
    resume = false,
    lease_token = %(token)s,
    lease_expires_at = %(now)s + make_interval(secs => LEAST(t.timeout_seconds, %(lease)s)),
    claimed_by = %(worker)s,
    started_at = COALESCE(t.started_at, %(now)s)
FROM picked
WHERE t.id = picked.id
RETURNING t.id, t.run_id, t.step, t.action, t.needs, t.attempt, t.max_attempts, t.input, t.cursor,
          t.timeout_seconds, t.lease_expires_at, t.idempotency_key
"""


def _then_claim_picked(*picking_ctes: str) -> str:
    """A whole claim statement: the CTEs that choose `picked`, then _CLAIM_PICKED (constants only)."""
    return "".join(picking_ctes) + _CLAIM_PICKED


# `picked` takes every plain task among the candidates but one workflow step at most: steps
# take seconds, and a worker runs its batch one task after another, so a second step would
# wait (its lease ticking) while other workers sit idle, and a crash would cost it an attempt
# it never started.
_PICK_ONE_STEP = """
picked AS (
    SELECT id FROM eligible WHERE run_id IS NULL
    UNION ALL
    (SELECT id FROM eligible WHERE run_id IS NOT NULL ORDER BY priority DESC, run_after, id LIMIT 1)
)"""

_PG_CLAIM = _then_claim_picked(
    """
WITH eligible AS (
    SELECT id, run_id, priority, run_after FROM orchestration_task
    WHERE status = 'queued' AND run_after <= %(now)s
      -- the execute route runs one workflow run's work only
      AND (%(run_id)s::uuid IS NULL OR run_id = %(run_id)s::uuid)
    ORDER BY priority DESC, run_after, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
),""",
    _PICK_ONE_STEP,
)

# Step one of a claim under limits: the limited keys that have due work, each with a
# try-lock held until this transaction ends. `LIKE ANY(patterns)` matches the configured
# keys and prefixes; the lock id is a 64-bit hash of the key in our own namespace.
_PG_LOCK_LIMITED_KEYS = """
SELECT k.key, pg_try_advisory_xact_lock(hashtextextended('orchestration.limit:' || k.key, 0))
FROM (
    SELECT DISTINCT concurrency_key AS key FROM orchestration_task
    WHERE status = 'queued' AND run_after <= %(now)s AND concurrency_key LIKE ANY(%(patterns)s)
      AND (%(run_id)s::uuid IS NULL OR run_id = %(run_id)s::uuid)
) AS k
"""

# Step two: the claim itself, in a new statement (a new snapshot under READ COMMITTED).
# - `cap`: the free slots of each key whose lock we hold: its limit less its running
#   attempts (a dead worker's attempt counts until its lease is recovered).
# - `candidates`: due rows as in _PG_CLAIM, but a row of a limited key only if we hold
#   that key and it has a free slot; matching by pattern (not by step one's list) also
#   excludes a key whose first task became due between the two statements.
# - `eligible`: at most one row per limited key. A worker runs its batch one task after
#   another, so taking more would hoard the key's slots while other workers sit idle;
#   `picked` then keeps one workflow step at most, as in _PG_CLAIM.
_PG_CLAIM_LIMITED = _then_claim_picked(
    """
WITH cap AS (
    SELECT l.key, l.lim - (
        SELECT count(*) FROM orchestration_task AS r WHERE r.status = 'running' AND r.concurrency_key = l.key
    ) AS free
    FROM unnest(%(held)s::text[], %(limits)s::int[]) AS l(key, lim)
),
candidates AS (
    SELECT c.id, c.run_id, c.concurrency_key, c.priority, c.run_after FROM orchestration_task AS c
    WHERE c.status = 'queued' AND c.run_after <= %(now)s
      AND (%(run_id)s::uuid IS NULL OR c.run_id = %(run_id)s::uuid)
      AND (NOT (c.concurrency_key LIKE ANY(%(patterns)s))
           OR c.concurrency_key IN (SELECT key FROM cap WHERE free > 0))
    ORDER BY c.priority DESC, c.run_after, c.id
    LIMIT %(limit)s
    FOR UPDATE OF c SKIP LOCKED
),
eligible AS (
    SELECT ranked.id, ranked.run_id, ranked.priority, ranked.run_after FROM (
        SELECT id, run_id, concurrency_key, priority, run_after,
               row_number() OVER (PARTITION BY concurrency_key ORDER BY priority DESC, run_after, id) AS n
        FROM candidates
    ) AS ranked
    LEFT JOIN cap ON cap.key = ranked.concurrency_key
    WHERE cap.key IS NULL OR ranked.n = 1
),""",
    _PICK_ONE_STEP,
)


# Enqueueing on Postgres in one round trip: the insert, and the NOTIFY that wakes idle
# workers, in a single statement (autocommit: no BEGIN/COMMIT round trips either).
# `unnest ... WITH ORDINALITY` keeps the ids in the order of the payloads; `ON CONFLICT
# DO NOTHING` makes an idempotency key that already exists return no id instead of failing.
_PG_INSERT = """
WITH ins AS (
    INSERT INTO orchestration_task (
        step, action, needs, status, priority, run_after, attempt, max_attempts, retry,
        timeout_seconds, claimed_by, resume, input, idempotency_key, last_error, created_at, concurrency_key
    )
    SELECT '', %(action)s, '[]'::jsonb, 'queued', %(priority)s, %(run_after)s, 0, %(max_attempts)s,
           %(retry)s::jsonb, %(timeout)s, '', false, u.payload, %(key)s, '', %(now)s, %(concurrency_key)s
    FROM unnest(%(payloads)s::jsonb[]) WITH ORDINALITY AS u(payload, n)
    ORDER BY u.n
    ON CONFLICT DO NOTHING
    RETURNING id
)
SELECT array_agg(id ORDER BY id){notify} FROM ins
"""


def insert_tasks(
    *,
    action: str,
    payloads: list[dict[str, Any]],
    priority: int,
    run_after: datetime,
    max_attempts: int,
    retry: dict[str, Any],
    timeout_seconds: float,
    idempotency_key: str | None,
    now: datetime,
    concurrency_key: str = "",
) -> list[int]:
    """Insert queued tasks of one action (Postgres fast path); returns their ids in order."""
    notify = ", pg_notify(%(channel)s, '')" if settings.ORCHESTRATION["NOTIFY"] else ""
    with connection.cursor() as cur:
        cur.execute(
            _PG_INSERT.format(notify=notify),
            {
                "action": action,
                "priority": priority,
                "run_after": run_after,
                "max_attempts": max_attempts,
                "retry": json.dumps(retry),
                "timeout": timeout_seconds,
                "payloads": [json.dumps(p) for p in payloads],
                "key": idempotency_key,
                "now": now,
                "channel": NOTIFY_CHANNEL,
                "concurrency_key": concurrency_key,
            },
        )
        row = cur.fetchone()
    return list(row[0] or []) if row else []


def claim(*, limit: int, worker: str, now: datetime, run_id: Any = None) -> list[ClaimedTask]:
    """Claim up to `limit` due tasks for `worker` (of one run with `run_id`), each with a fresh
    lease and an open agent run, never more at once per key than its concurrency limit."""
    if limit <= 0:
        return []
    token = uuid.uuid4()  # one token per claim is unique per (task, claim): a claim takes a task once
    limits = concurrency_limits()
    params = {
        "now": now,
        "limit": limit,
        "token": token,
        "worker": worker,
        "lease": _lease_seconds(),
        "run_id": str(run_id) if run_id else None,
    }
    with transaction.atomic():
        if is_postgres():
            rows = _pg_claim_limited(params, limits) if limits else _pg_execute(_PG_CLAIM, params)
        else:
            rows = _sqlite_claim(limit=limit, worker=worker, now=now, token=token, run_id=run_id, limits=limits)
        claimed = [_claimed(row, token, now) for row in rows]
        # The workflow step first: it is the slow one, and once it runs a crash costs it
        # only the attempt it really started (plain tasks behind it are quick).
        claimed.sort(key=lambda t: (t.run_id is None, t.id))
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
    return claimed


def concurrency_limits() -> ConcurrencyLimits:
    configured = settings.ORCHESTRATION.get("CONCURRENCY_LIMITS") or {}
    return configured if isinstance(configured, ConcurrencyLimits) else parse_limits(configured)


def _pg_execute(sql: str, params: dict[str, Any]) -> list[tuple]:
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def _pg_claim_limited(params: dict[str, Any], limits: ConcurrencyLimits) -> list[tuple]:
    patterns = limits.like_patterns()
    keys = _pg_execute(_PG_LOCK_LIMITED_KEYS, {**params, "patterns": patterns})
    held = limits.limited(key for key, locked in keys if locked)
    return _pg_execute(
        _PG_CLAIM_LIMITED,
        {**params, "patterns": patterns, "held": list(held), "limits": list(held.values())},
    )


def _sqlite_claim(
    *,
    limit: int,
    worker: str,
    now: datetime,
    token: uuid.UUID,
    run_id: Any = None,
    limits: ConcurrencyLimits | None = None,
) -> list[tuple]:
    # Inside BEGIN IMMEDIATE: nobody else can write between this select and the updates.
    due = Task.objects.filter(status=TaskStatus.QUEUED, run_after__lte=now)
    if run_id:
        due = due.filter(run_id=run_id)
    columns = ("id", "attempt", "resume", "timeout_seconds", "started_at")
    ordered = due.order_by("-priority", "run_after", "id")
    if limits:
        eligible = _pick_within_limits(ordered.values_list(*columns, "run_id", "concurrency_key"), limit, limits)
    else:
        eligible = list(ordered.values_list(*columns, "run_id")[:limit])
    # One workflow step at most, as _PICK_ONE_STEP does on Postgres.
    steps = [row[:-1] for row in eligible if row[-1] is not None][:1]
    picked = [row[:-1] for row in eligible if row[-1] is None] + steps
    rows = []
    for task_id, attempt, resume, timeout, started_at in picked:
        expires = now + timedelta(seconds=min(timeout, _lease_seconds()))
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
    if picked:
        rows = list(
            Task.objects.filter(id__in=[p[0] for p in picked]).values_list(
                "id",
                "run_id",
                "step",
                "action",
                "needs",
                "attempt",
                "max_attempts",
                "input",
                "cursor",
                "timeout_seconds",
                "lease_expires_at",
                "idempotency_key",
            )
        )
    return rows


def _pick_within_limits(candidates: Any, limit: int, limits: ConcurrencyLimits) -> list[tuple]:
    """Due rows in claim order, skipping those whose key has no free slot, and at most one
    row per limited key (as _PG_CLAIM_LIMITED does)."""
    running_keys = Task.objects.filter(status=TaskStatus.RUNNING).exclude(concurrency_key="")
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


def _lease_seconds() -> float:
    return float(settings.ORCHESTRATION["LEASE_SECONDS"])


def _claimed(row: tuple, token: uuid.UUID, now: datetime) -> ClaimedTask:
    task_id, run_id, step, action, needs, attempt, max_attempts, input_, cursor, timeout, expires, key = row
    return ClaimedTask(
        id=task_id,
        run_id=str(run_id) if run_id else None,
        step=step,
        action=action,
        needs=_json(needs) or [],
        attempt=attempt,
        max_attempts=max_attempts,
        input=_json(input_) or {},
        cursor=_json(cursor),
        timeout_seconds=timeout,
        lease_token=token,
        lease_expires_at=expires,
        claimed_at=now,
        idempotency_key=key or f"task:{task_id}",
    )


def _json(value: Any) -> Any:
    # psycopg decodes jsonb itself; raw values from other backends arrive as text.
    if isinstance(value, str | bytes):
        return json.loads(value)
    return value


# Completing a batch of plain tasks from one claim in one statement: every row is
# fenced by the claim's token and `status = 'running'`, so a row whose lease was
# lost meanwhile is simply not returned (its report is stale).
_PG_COMPLETE = """
UPDATE orchestration_task AS t
SET status = 'succeeded', output = v.output::jsonb, cursor = NULL, finished_at = %(now)s,
    last_error = '', lease_token = NULL, lease_expires_at = NULL
FROM (SELECT unnest(%(ids)s::bigint[]) AS id, unnest(%(outputs)s::text[]) AS output) AS v
WHERE t.id = v.id AND t.lease_token = %(token)s AND t.status = 'running'
RETURNING t.id
"""

# Closing the attempts' agent-run rows in one statement, duration computed where the start is.
_PG_CLOSE_ATTEMPTS = """
UPDATE orchestration_agentrun
SET outcome = %(outcome)s, finished_at = %(now)s,
    duration_ms = EXTRACT(EPOCH FROM (%(now)s - started_at)) * 1000,
    error = %(error)s, error_type = %(error_type)s, detail = %(detail)s::jsonb
WHERE task_id = ANY(%(ids)s) AND outcome = 'running'
  AND (%(token)s::uuid IS NULL OR lease_token = %(token)s::uuid)
  AND (%(attempt)s::int IS NULL OR attempt = %(attempt)s::int)
"""


def complete_claimed(*, outputs: dict[int, Any], lease_token: uuid.UUID, now: datetime) -> list[int]:
    """Mark the tasks of one claim succeeded with their outputs; returns the ids still held."""
    if not outputs:
        return []
    if is_postgres():
        ids = list(outputs)
        with connection.cursor() as cur:
            cur.execute(
                _PG_COMPLETE,
                {"ids": ids, "outputs": [json.dumps(outputs[i]) for i in ids], "token": lease_token, "now": now},
            )
            return [row[0] for row in cur.fetchall()]
    done = []
    for task_id, output in outputs.items():
        if Task.objects.filter(id=task_id, lease_token=lease_token, status=TaskStatus.RUNNING).update(
            status=TaskStatus.SUCCEEDED,
            output=output,
            cursor=None,
            finished_at=now,
            last_error="",
            lease_token=None,
            lease_expires_at=None,
        ):
            done.append(task_id)
    return done


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
    if is_postgres():
        with connection.cursor() as cur:
            cur.execute(
                _PG_CLOSE_ATTEMPTS,
                {
                    "ids": list(task_ids),
                    "outcome": outcome,
                    "now": now,
                    "token": lease_token,
                    "attempt": attempt,
                    "error": error,
                    "error_type": error_type,
                    "detail": None if detail is None else json.dumps(detail),
                },
            )
        return
    runs = AgentRun.objects.filter(task_id__in=task_ids, outcome="running")
    if lease_token is not None:
        runs = runs.filter(lease_token=lease_token)
    if attempt is not None:
        runs = runs.filter(attempt=attempt)
    for agent_run in runs:
        agent_run.outcome = outcome
        agent_run.finished_at = now
        agent_run.duration_ms = (now - agent_run.started_at).total_seconds() * 1000
        agent_run.error = error
        agent_run.error_type = error_type
        agent_run.detail = detail
        agent_run.save(update_fields=["outcome", "finished_at", "duration_ms", "error", "error_type", "detail"])


def expired_leases(*, now: datetime, limit: int = 100) -> list[tuple[int, uuid.UUID]]:
    """Running tasks whose lease ran out: their worker died or overran (E4).

    No lock here: each recovery is a conditional update fenced by the token
    and the expiry, so two ticks recovering at once cannot both apply it.
    """
    return list(
        Task.objects.filter(status=TaskStatus.RUNNING, lease_expires_at__lt=now)
        .order_by("lease_expires_at")
        .values_list("id", "lease_token")[:limit]
    )


def next_due_at() -> datetime | None:
    """When the earliest queued task becomes due (workers sleep until then at most)."""
    return (
        Task.objects.filter(status=TaskStatus.QUEUED).order_by("run_after").values_list("run_after", flat=True).first()
    )


def notify_ready() -> None:
    """Wake LISTENing workers when the current transaction commits (Postgres only).

    NOTIFY is transactional and works through PgBouncer; LISTEN needs the direct URL.
    """
    if is_postgres() and settings.ORCHESTRATION["NOTIFY"]:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_notify(%s, '')", [NOTIFY_CHANNEL])
