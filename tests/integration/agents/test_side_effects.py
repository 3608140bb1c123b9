"""The side-effect ledger (orchestration/side_effects.py): an effect happens once per task, and an
attempt that lost its task to another attempt does not start one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from agents.models import SideEffect
from agents.side_effects import perform_once
from orchestration import clock, dispatch, queue, services
from orchestration.budget import Budget
from orchestration.exceptions import AttemptSuperseded
from orchestration.execution import _context
from orchestration.models import Task
from orchestration.queue import ClaimedTask
from orchestration.registry import TaskContext
from orchestration.retry import RetryPolicy
from tests.support.effects import Mailer

pytestmark = pytest.mark.django_db(transaction=True)


def claim_one() -> ClaimedTask:
    [claimed] = queue.claim(limit=1, worker="w", now=clock.now())
    return claimed


def lose_the_lease(task: ClaimedTask) -> ClaimedTask:
    """The attempt's lease runs out (it hung, say); recovery queues the task and a new attempt takes it."""
    Task.objects.filter(id=task.id).update(lease_expires_at=clock.now() - timedelta(seconds=1))
    assert services.recover_expired_leases() == 1
    replacement = claim_one()
    assert (replacement.id, replacement.attempt) == (task.id, task.attempt + 1)
    return replacement


def inline_context(task: ClaimedTask) -> TaskContext:
    return _context(task, Budget.seconds(60))


def test_an_effect_is_performed_once_and_a_retry_reads_its_result() -> None:
    services.enqueue("engine.noop")
    ctx = inline_context(claim_one())
    mail = Mailer()

    first = perform_once(ctx=ctx, key="k", kind="email:x", fn=mail)
    again = perform_once(ctx=ctx, key="k", kind="email:x", fn=mail)

    assert first == again == {"message_id": "m1"}
    assert mail.sent == 1
    row = SideEffect.objects.get(key="k:email:x")
    assert (row.status, row.performed, row.task_id) == (SideEffect.Status.DONE, 1, ctx.task_id)


def test_an_attempt_that_lost_its_task_does_not_start_the_effect_its_replacement_performs() -> None:
    services.enqueue("engine.noop")
    old = claim_one()
    new = lose_the_lease(old)
    mail = Mailer()

    with pytest.raises(AttemptSuperseded, match=f"Attempt 1 of task {old.id} no longer holds its lease"):
        perform_once(ctx=inline_context(old), key="k", kind="email:x", fn=mail)
    assert mail.sent == 0
    assert SideEffect.objects.get(key="k:email:x").status == SideEffect.Status.PENDING

    assert perform_once(ctx=inline_context(new), key="k", kind="email:x", fn=mail) == {"message_id": "m1"}
    assert mail.sent == 1
    assert SideEffect.objects.get(key="k:email:x").performed == 1


def test_an_effect_a_dead_attempt_left_pending_is_performed_by_the_attempt_that_holds_the_task() -> None:
    services.enqueue("engine.noop")
    old = claim_one()
    SideEffect.objects.create(key="k:deploy", kind="deploy", task_id=old.id)  # it died mid-effect
    new = lose_the_lease(old)
    mail = Mailer()

    perform_once(ctx=inline_context(new), key="k", kind="deploy", fn=mail)

    assert mail.sent == 1
    row = SideEffect.objects.get(key="k:deploy")
    assert (row.status, row.performed) == (SideEffect.Status.DONE, 1)


def test_an_agent_over_http_is_fenced_by_its_attempt_number() -> None:
    services.enqueue("engine.noop")
    old = claim_one()
    new = lose_the_lease(old)

    def agent_context(task: ClaimedTask) -> TaskContext:
        request = {"taskId": task.id, "attempt": task.attempt, "action": task.action, "idempotencyKey": "k"}
        return dispatch._agent_context(request, deadline=clock.monotonic() + 60)

    mail = Mailer()
    with pytest.raises(AttemptSuperseded):
        perform_once(ctx=agent_context(old), key="k", kind="email:x", fn=mail)
    perform_once(ctx=agent_context(new), key="k", kind="email:x", fn=mail)
    assert mail.sent == 1


def test_starting_an_effect_renews_the_lease_of_the_attempt_that_holds_the_task() -> None:
    services.enqueue("engine.noop")
    task = claim_one()
    Task.objects.filter(id=task.id).update(lease_expires_at=clock.now() + timedelta(seconds=2))

    perform_once(ctx=inline_context(task), key="k", kind="email:x", fn=Mailer())

    assert Task.objects.get(id=task.id).lease_expires_at > clock.now() + timedelta(seconds=10)


def test_an_effect_still_being_performed_by_a_timed_out_attempt_is_not_performed_again() -> None:
    """Attempt 1 is still inside fn() when its lease is recovered and attempt 2 starts: attempt 2
    finds the effect pending and held, and fails retryably, scheduled after the hold, without
    performing it. Once attempt 1 is done, the retry reads its result."""
    from orchestration.exceptions import EffectInProgress

    services.enqueue("engine.noop", retry=RetryPolicy(max_attempts=3, base_seconds=0.1))
    first = claim_one()
    ctx1 = inline_context(first)
    mail = Mailer()
    seen: list[Any] = []

    def slow_send() -> dict[str, Any]:
        second = lose_the_lease(first)  # the effect outlasts the step: attempt 2 runs meanwhile
        ctx2 = inline_context(second)
        with pytest.raises(EffectInProgress) as refused:
            perform_once(ctx=ctx2, key="k", kind="email:x", fn=mail)
        seen.append(refused.value.retry_after)
        assert services.task_fail(
            task_id=second.id, lease_token=second.lease_token, error="held", retry_after=refused.value.retry_after
        )
        return mail()

    assert perform_once(ctx=ctx1, key="k", kind="email:x", fn=slow_send) == {"message_id": "m1"}
    assert mail.sent == 1
    assert seen[0] > 60, "scheduled after the hold, not at the 0.1 s backoff"
    task = Task.objects.get()
    assert (task.run_after - clock.now()).total_seconds() > 60
    effect = SideEffect.objects.get()
    assert (effect.status, effect.performed, effect.held_by) == (SideEffect.Status.DONE, 1, "")


def test_a_hold_that_ran_out_lets_another_attempt_perform_the_effect() -> None:
    """The bound: a holder past its hold is taken for dead (the provider's key is the last guard)."""
    services.enqueue("engine.noop")
    first = claim_one()
    SideEffect.objects.create(
        key="k:email:x",
        kind="email:x",
        task_id=first.id,
        held_by="a dead attempt",
        held_until=clock.now() - timedelta(seconds=1),
    )
    mail = Mailer()
    assert perform_once(ctx=inline_context(first), key="k", kind="email:x", fn=mail) == {"message_id": "m1"}
    assert mail.sent == 1


@pytest.mark.parametrize(("retry_after", "waits_past_the_hold"), [(120, True), ("120", False), (-5, False)])
def test_a_dispatched_agents_effect_in_progress_failure_is_retried_after_the_hold(
    retry_after: Any, waits_past_the_hold: bool
) -> None:
    """Over HTTP the failure carries `retryAfter`; the engine schedules the retry after it (a
    value that is not a sane number of seconds is ignored: the usual backoff)."""
    from orchestration.dispatch import Report

    services.enqueue("engine.noop", retry=RetryPolicy(max_attempts=3, base_seconds=0.1))
    task = claim_one()
    data = {"error": "held", "retryable": True, "errorType": "EffectInProgress", "retryAfter": retry_after}
    assert dispatch.apply_report(Report("task_failed", task.id, task.attempt, data=data), lease_token=task.lease_token)
    waited = (Task.objects.get(id=task.id).run_after - clock.now()).total_seconds()
    assert (waited > 100) is waits_past_the_hold
