"""Exactly-once-in-practice external side effects: look up, perform, record.

`perform_once(ctx=..., key=..., kind=..., fn=...)` returns the stored result when the
effect is already done. Otherwise it performs it and records it. A crash between the
effect and its record makes the retry perform it again (at-least-once), which
is why the key is also handed to providers that support idempotency (Vercel
meta, the LLM's Idempotency-Key header) so they dedupe on their side too.

Before performing, the attempt renews its lease (`ctx.heartbeat()`, fenced by its lease
token, inline and over HTTP, where the dispatch request carries it). An attempt that lost its task, say one
that hung past its lease while the engine gave the task to another attempt, learns it here
and stops (AttemptSuperseded) instead of sending the email its replacement sends too; and
an attempt that holds its task starts the effect with a full lease ahead of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F

from agents.models import SideEffect
from orchestration import clock
from orchestration.exceptions import AttemptSuperseded
from orchestration.registry import TaskContext


def perform_once(
    *, ctx: TaskContext, key: str, kind: str, fn: Callable[[], dict[str, Any]], project_id: Any = None
) -> dict[str, Any]:
    """`fn()`'s result, performing it unless this task already did (`key`, `kind`)."""
    full_key = f"{key}:{kind}"
    existing = SideEffect.objects.filter(key=full_key).first()
    if existing is not None and existing.status == SideEffect.Status.DONE:
        return existing.result or {}
    if existing is None:
        try:
            with transaction.atomic():
                SideEffect.objects.create(key=full_key, kind=kind, project_id=project_id, task_id=ctx.task_id)
        except IntegrityError:  # a concurrent attempt recorded it first; go on and perform it
            pass
    if not ctx.heartbeat():
        raise AttemptSuperseded(
            f"Attempt {ctx.attempt} of task {ctx.task_id} no longer holds its lease: {kind} is left to its successor"
        )
    result = fn()
    SideEffect.objects.filter(key=full_key).update(
        status=SideEffect.Status.DONE, result=result, done_at=clock.now(), performed=F("performed") + 1
    )
    return result
