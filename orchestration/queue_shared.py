"""What both implementations of the queue share (orchestration/queue_pg.py, queue_portable.py):
the values an operation hands back, and the clock the operations read. Imported by both, never
importing either, so the queue's public face (orchestration/queue.py, which re-exports every
name here) can import them without a cycle.

Time: on Postgres every lease expiry, renewal, recovery and due time is the database's `now()`,
never the calling host's clock: hosts and serverless functions disagree by seconds, and a host
15 s ahead would think every live lease expired. The `now` a caller passes is used instead only
where the host's clock is the database's (SQLite, a file on that host) or a test has set the
engine's clock (lease_now).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from django.db import connection
from django.db.models.functions import Now

from orchestration import clock
from orchestration.conf import engine_settings
from orchestration.limits import ConcurrencyLimits
from orchestration.models import WorkflowRun

NOTIFY_CHANNEL = "orchestration_tasks"


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def lease_now(now: datetime | None = None) -> datetime | None:
    """The `now` parameter of the queue's statements: None (the database's `now()`) on
    Postgres with the real clock; else the caller's `now` (a test's clock, or SQLite's host)."""
    if is_postgres() and clock.is_real():
        return None
    return now if now is not None else clock.now()


def db_now() -> Any:
    """Now for the ORM's lease filters and updates: the database's (an SQL expression) on
    Postgres with the real clock, else the engine's clock."""
    return Now() if is_postgres() and clock.is_real() else clock.now()


def concurrency_limits() -> ConcurrencyLimits:
    return engine_settings.CONCURRENCY_LIMITS


class InsertedTask(NamedTuple):
    """A task as insert_task stored it: its id and the times the database gave it."""

    id: int
    run_after: datetime
    created_at: datetime


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
    # The outputs of the steps this one needs, read by the claim itself (None: not read yet).
    inputs: dict[str, Any] | None = None


@dataclass(frozen=True)
class StepCompletion:
    """What one step's completion did to its run, as the completion saw it."""

    run_status: str | None  # the run's status (None: a plain task, or no such run)
    applied: bool  # false: the report was stale (the fence did not match)
    ready: int  # steps it made ready (queued, or handed to the worker)
    total: int
    succeeded: int  # including this one
    active: int  # other steps queued or running
    dead: list[str]  # steps dead or cancelled
    queued: int  # steps it queued for any worker (ready, not handed off): wake idle ones
    handoff: ClaimedTask | None  # the next step, claimed for the worker that asked
    finished_run: WorkflowRun | None = None  # the run, which this completion finished (succeeded)


# The columns a claim reads of each task it takes, in the order claimed_task reads them.
CLAIMED_COLUMNS = (
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


def claimed_task(row: tuple, token: uuid.UUID, now: datetime, *, inputs: Any = None) -> ClaimedTask:
    """A ClaimedTask from a claimed row's CLAIMED_COLUMNS."""
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
        inputs=None if inputs is None else _json(inputs),
    )


def in_run_order(claimed: list[ClaimedTask]) -> list[ClaimedTask]:
    """A claim's tasks in the order its worker runs them: the workflow step first. It is the slow
    one, and once it runs a crash costs it only the attempt it really started (plain tasks
    behind it are quick)."""
    return sorted(claimed, key=lambda t: (t.run_id is None, t.id))


def _json(value: Any) -> Any:
    # psycopg decodes jsonb itself; raw values from other backends arrive as text.
    if isinstance(value, str | bytes):
        return json.loads(value)
    return value
