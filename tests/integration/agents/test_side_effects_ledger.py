"""What the side-effect ledger records (orchestration/side_effects.py): the row says what the effect was,
for which project and task, when it was done and what it returned; a refusal says why."""

from __future__ import annotations

from typing import Any

import pytest

from agents.models import SideEffect
from agents.side_effects import perform_once
from orchestration import clock as engine_clock
from orchestration import queue, services
from orchestration.budget import Budget
from orchestration.exceptions import AttemptSuperseded
from orchestration.execution import _context
from orchestration.queue import ClaimedTask
from orders.services import project_create
from tests.integration.gateway.conftest import BRIEF

pytestmark = pytest.mark.django_db


def claim_and_context() -> tuple[ClaimedTask, Any]:
    services.enqueue("engine.noop")
    [claimed] = queue.claim(limit=1, worker="w", now=engine_clock.now())
    return claimed, _context(claimed, Budget.seconds(60))


def test_a_performed_effect_is_recorded_with_its_kind_project_task_time_and_result(clock) -> None:
    project = project_create(**BRIEF)
    _, ctx = claim_and_context()

    result = perform_once(ctx=ctx, key="order-1", kind="deploy", fn=lambda: {"url": "https://x"}, project_id=project.id)

    assert result == {"url": "https://x"}
    row = SideEffect.objects.get()
    assert (row.key, row.kind, row.subject, row.task_id) == ("order-1:deploy", "deploy", project, ctx.task_id)
    assert (row.status, row.result, row.performed) == (SideEffect.Status.DONE, {"url": "https://x"}, 1)
    assert row.done_at == clock.now()


def test_a_done_effect_that_returned_nothing_reads_as_an_empty_result() -> None:
    _, ctx = claim_and_context()
    calls: list[int] = []
    SideEffect.objects.create(key="k:ping", kind="ping", status=SideEffect.Status.DONE, result=None, task_id=1)

    assert perform_once(ctx=ctx, key="k", kind="ping", fn=lambda: calls.append(1) or {"x": 1}) == {}
    assert calls == []


def test_an_attempt_that_lost_its_task_is_told_which_effect_it_leaves_to_its_successor() -> None:
    claimed, ctx = claim_and_context()
    assert services.task_release(task_id=claimed.id, lease_token=claimed.lease_token)  # the attempt no longer holds it

    with pytest.raises(AttemptSuperseded) as refused:
        perform_once(ctx=ctx, key="k", kind="email:x", fn=lambda: {})
    assert str(refused.value) == (
        f"Attempt {ctx.attempt} of task {ctx.task_id} no longer holds its lease: email:x is left to its successor"
    )
