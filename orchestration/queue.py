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
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction

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
# - `lease_token`, `lease_expires_at`: the fence and the lease (E4).
_PG_CLAIM = """
WITH picked AS (
    SELECT id FROM orchestration_task
    WHERE status = 'queued' AND run_after <= %(now)s
    ORDER BY priority DESC, run_after, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE orchestration_task AS t
SET status = 'running',
    attempt = t.attempt + CASE WHEN t.resume THEN 0 ELSE 1 END,
    resume = false,
    lease_token = %(token)s,
    lease_expires_at = %(now)s + make_interval(secs => t.timeout_seconds),
    claimed_by = %(worker)s,
    started_at = COALESCE(t.started_at, %(now)s)
FROM picked
WHERE t.id = picked.id
RETURNING t.id, t.run_id, t.step, t.action, t.needs, t.attempt, t.input, t.cursor,
          t.timeout_seconds, t.lease_expires_at, t.idempotency_key
"""


def claim(*, limit: int, worker: str, now: datetime) -> list[ClaimedTask]:
    """Claim up to `limit` due tasks for `worker`, each with a fresh lease and an open agent run."""
    if limit <= 0:
        return []
    token = uuid.uuid4()  # one token per claim is unique per (task, claim): a claim takes a task once
    with transaction.atomic():
        if is_postgres():
            with connection.cursor() as cur:
                cur.execute(_PG_CLAIM, {"now": now, "limit": limit, "token": token, "worker": worker})
                rows = cur.fetchall()
        else:
            rows = _sqlite_claim(limit=limit, worker=worker, now=now, token=token)
        claimed = [_claimed(row, token, now) for row in rows]
        claimed.sort(key=lambda t: t.id)
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


def _sqlite_claim(*, limit: int, worker: str, now: datetime, token: uuid.UUID) -> list[tuple]:
    # Inside BEGIN IMMEDIATE: nobody else can write between this select and the updates.
    picked = list(
        Task.objects.filter(status=TaskStatus.QUEUED, run_after__lte=now)
        .order_by("-priority", "run_after", "id")
        .values_list("id", "attempt", "resume", "timeout_seconds", "started_at")[:limit]
    )
    rows = []
    for task_id, attempt, resume, timeout, started_at in picked:
        expires = now + timedelta(seconds=timeout)
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
                "input",
                "cursor",
                "timeout_seconds",
                "lease_expires_at",
                "idempotency_key",
            )
        )
    return rows


def _claimed(row: tuple, token: uuid.UUID, now: datetime) -> ClaimedTask:
    task_id, run_id, step, action, needs, attempt, input_, cursor, timeout, expires, key = row
    return ClaimedTask(
        id=task_id,
        run_id=str(run_id) if run_id else None,
        step=step,
        action=action,
        needs=_json(needs) or [],
        attempt=attempt,
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
