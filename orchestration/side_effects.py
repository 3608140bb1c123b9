"""Exactly-once-in-practice external side effects: look up, perform, record. The ledger is the
engine's (`SideEffect`); the apps above it perform their effects through it.

`perform_once(ctx=..., key=..., kind=..., fn=..., subject=...)` returns the stored result when the
effect is already done. Otherwise it performs it and records it. A crash between the
effect and its record makes the retry perform it again (at-least-once), which
is why the key is also handed to providers that support idempotency (Vercel
meta, the LLM's Idempotency-Key header) so they dedupe on their side too.

Before performing, the attempt renews its lease (`ctx.heartbeat()`, fenced by its lease
token, inline and over HTTP, where the dispatch request carries it). An attempt that lost its task, say one
that hung past its lease while the engine gave the task to another attempt, learns it here
and stops (AttemptSuperseded) instead of sending the email its replacement sends too; and
an attempt that holds its task starts the effect with a full lease ahead of it.

An effect can outlast its step's timeout (a slow SMTP server or deploy): the engine then
recovers the lease and a second attempt starts while the first is still inside `fn()`. So a
pending row records who performs it and until when, by the database's clock (`held_by`,
`held_until`: the attempt's remaining timeout, and at least EFFECT_HOLD_SECONDS). Another
attempt that finds it held does not perform it: it fails with EffectInProgress, a retryable
error that the engine schedules after the hold. The bound: once the hold has run out, the
performer is taken for dead and the effect may be performed again; an effect that takes
longer than its hold can happen twice, and the key handed to the provider is the last guard.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction
from django.db.models import F, Model, Q

from orchestration import clock, queue
from orchestration.conf import engine_settings
from orchestration.exceptions import AttemptSuperseded, EffectInProgress
from orchestration.models import SideEffect
from orchestration.registry import TaskContext


def perform_once(
    *, ctx: TaskContext, key: str, kind: str, fn: Callable[[], dict[str, Any]], subject: Model | None = None
) -> dict[str, Any]:
    """`fn()`'s result, performing it unless this task already did (`key`, `kind`). `subject`, what
    the effect is for (a saved instance, or one that carries only its primary key), is recorded on
    the ledger row for staff and reports; the engine does not read it."""
    full_key = f"{key}:{kind}"
    existing = SideEffect.objects.filter(key=full_key).first()
    if existing is not None and existing.status == SideEffect.Status.DONE:
        return existing.result or {}
    if existing is None:
        about = {}
        if subject is not None:
            about = {"subject_type": ContentType.objects.get_for_model(subject), "subject_id": subject.pk}
        try:
            with transaction.atomic():
                SideEffect.objects.create(key=full_key, kind=kind, task_id=ctx.task_id, **about)
        except IntegrityError:  # a concurrent attempt recorded it first; go on and perform it
            pass
    if not ctx.heartbeat():
        raise AttemptSuperseded(
            f"Attempt {ctx.attempt} of task {ctx.task_id} no longer holds its lease: {kind} is left to its successor"
        )
    holder = f"task {ctx.task_id} attempt {ctx.attempt}"
    done = _take_hold(full_key, kind, holder, seconds=max(ctx.time_left(), effect_hold_seconds()))
    if done is not None:  # another attempt finished it meanwhile
        return done
    try:
        result = fn()
    except BaseException:
        # Not performed, or not knowingly: the next attempt need not wait out the hold.
        SideEffect.objects.filter(key=full_key, held_by=holder, status=SideEffect.Status.PENDING).update(
            held_by="", held_until=None
        )
        raise
    SideEffect.objects.filter(key=full_key).update(
        status=SideEffect.Status.DONE,
        result=result,
        done_at=clock.now(),
        performed=F("performed") + 1,
        held_by="",
        held_until=None,
    )
    return result


def effect_hold_seconds() -> float:
    """How long a pending effect is held at least (the engine's EFFECT_HOLD_SECONDS, 300 s by default:
    longer than any effect this project performs takes, an SMTP send or a deploy's API calls)."""
    return engine_settings.EFFECT_HOLD_SECONDS


def _take_hold(full_key: str, kind: str, holder: str, *, seconds: float) -> dict[str, Any] | None:
    """Hold the pending effect for `holder` (a conditional update: one holder at a time; None),
    or return its result if it is done by now, or raise EffectInProgress while another attempt
    holds it."""
    now = queue.database_time()
    free = Q(held_until__isnull=True) | Q(held_until__lt=now) | Q(held_by=holder)
    taken = SideEffect.objects.filter(free, key=full_key, status=SideEffect.Status.PENDING).update(
        held_by=holder, held_until=now + timedelta(seconds=seconds)
    )
    if taken:
        return None
    row = SideEffect.objects.filter(key=full_key).values("status", "result", "held_by", "held_until").first() or {}
    if row.get("status") == SideEffect.Status.DONE:
        return row["result"] or {}
    until = row.get("held_until")
    left = max((until - now).total_seconds(), 0.0) if until is not None else 0.0
    raise EffectInProgress(
        f"{kind} is being performed by {row.get('held_by') or 'another attempt'}; retry after its hold ({left:.0f} s)",
        retry_after=left + 1.0,
    )
