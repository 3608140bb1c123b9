"""The claim where there is no PostgreSQL (SQLite): the same rows in the same order as the
statements of queries.sql pick (priority, due time, id; one workflow step per claim; limited keys
within their free slots), by the ORM, inside the `BEGIN IMMEDIATE` that makes it atomic.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q

from orchestration.conf import engine_settings
from orchestration.limits import ConcurrencyLimits
from orchestration.models import Task, TaskStatus


def claim_rows(
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
        eligible = pick_within_limits(
            ordered.values_list(*columns, "run_id", "concurrency_key"), limit, limits, now=now
        )
    else:
        eligible = list(ordered.values_list(*columns, "run_id")[:limit])
    # One workflow step at most, as _PICK_ELIGIBLE does on Postgres.
    steps = [row[:-1] for row in eligible if row[-1] is not None][:1]
    picked = [row[:-1] for row in eligible if row[-1] is None] + steps
    rows = []
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


def pick_within_limits(candidates: Any, limit: int, limits: ConcurrencyLimits, *, now: datetime) -> list[tuple]:
    """Due rows in claim order, skipping those whose key has no free slot, and at most one
    row per limited key (as _PG_CLAIM_LIMITED does; slots held as "holds a slot" says)."""
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
