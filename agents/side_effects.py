"""Exactly-once-in-practice external side effects: look up, perform, record.

`perform_once(key, kind, fn)` returns the stored result when the effect is
already done. Otherwise it performs it and records it. A crash between the
effect and its record makes the retry perform it again (at-least-once), which
is why the key is also handed to providers that support idempotency (Vercel
meta, the LLM's Idempotency-Key header) so they dedupe on their side too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F

from agents.models import SideEffect
from orchestration import clock


def perform_once(
    *, key: str, kind: str, fn: Callable[[], dict[str, Any]], project_id: Any = None, task_id: int | None = None
) -> dict[str, Any]:
    full_key = f"{key}:{kind}"
    existing = SideEffect.objects.filter(key=full_key).first()
    if existing is not None and existing.status == SideEffect.Status.DONE:
        return existing.result or {}
    if existing is None:
        try:
            with transaction.atomic():
                SideEffect.objects.create(key=full_key, kind=kind, project_id=project_id, task_id=task_id)
        except IntegrityError:  # a concurrent attempt recorded it first; go on and perform it
            pass
    result = fn()
    SideEffect.objects.filter(key=full_key).update(
        status=SideEffect.Status.DONE, result=result, done_at=clock.now(), performed=F("performed") + 1
    )
    return result
