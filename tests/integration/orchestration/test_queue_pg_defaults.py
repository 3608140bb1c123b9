"""The queue's operations called as their signature allows, held against both implementations
(tests/support/queue_contract.py says where each runs): what an argument left out means, and the
`now` a caller gives standing while the engine's clock is set."""

from __future__ import annotations

import uuid
from datetime import timedelta
from types import ModuleType

import pytest

from orchestration.models import AgentRun, Task
from tests.integration.orchestration.test_queue_contract import run_and_steps
from tests.support.queue_contract import IMPLEMENTATIONS, complete, load, plain, running

pytestmark = pytest.mark.django_db


@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request: pytest.FixtureRequest) -> ModuleType:
    return load(request.param)


def test_a_task_inserted_without_a_concurrency_key_has_none(impl, clock) -> None:
    common = {
        "action": "engine.noop",
        "priority": 0,
        "run_after": clock.now(),
        "max_attempts": 1,
        "timeout_seconds": 10.0,
        "idempotency_key": None,
        "now": clock.now(),
    }
    one = impl.insert_task(payload_json="{}", retry_json='{"max_attempts": 1}', **common)
    many = impl.insert_tasks(payloads=[{}, {}], retry={"max_attempts": 1}, **common)
    keys = dict(Task.objects.values_list("id", "concurrency_key"))
    assert keys == {one.id: "", many[0]: "", many[1]: ""}


def test_an_attempt_closed_without_an_error_or_detail_records_none(impl, clock) -> None:
    task = plain(clock.now())
    claimed = running(impl, clock.now(), task)
    impl.close_attempts(task_ids=[task.id], outcome="released", now=clock.now(), lease_token=claimed.lease_token)
    attempt = AgentRun.objects.get(task=task)
    assert (attempt.outcome, attempt.error, attempt.error_type) == ("released", "", "")
    # No detail is SQL NULL, not a JSON null: `detail__isnull` finds it.
    assert AgentRun.objects.filter(task=task, detail__isnull=True).exists()


def test_the_attempts_close_at_the_now_their_caller_gives(impl, clock) -> None:
    """With the engine's clock set, the caller's `now` stands (not the engine clock's now again)."""
    failing, batched = plain(clock.now()), plain(clock.now())
    claimed = impl.claim(limit=2, worker="w", now=clock.now())
    token = claimed[0].lease_token
    closed_at = clock.now() + timedelta(seconds=7)
    impl.close_attempts(task_ids=[failing.id], outcome="retry", now=closed_at, lease_token=token, error="e")
    assert impl.complete_claimed(outputs={batched.id: {"ok": 1}}, lease_token=token, now=closed_at) == [batched.id]
    finished = dict(AgentRun.objects.values_list("task_id", "finished_at"))
    assert finished == {failing.id: closed_at, batched.id: closed_at}
    assert Task.objects.get(id=batched.id).finished_at == closed_at


def test_expired_leases_are_listed_a_hundred_at_most_unless_told(impl, clock) -> None:
    """Recovery works through them a bounded page at a time."""
    expired = {"status": "running", "lease_token": uuid.uuid4(), "lease_expires_at": clock.now() - timedelta(seconds=1)}
    Task.objects.bulk_create(
        [Task(action="engine.noop", run_after=clock.now(), timeout_seconds=30.0, **expired) for _ in range(101)]
    )
    assert len(impl.expired_leases()) == 100
    assert len(impl.expired_leases(limit=101)) == 101


def test_a_runs_steps_are_due_and_completed_at_the_now_their_caller_gives(impl, clock) -> None:
    at = clock.now() - timedelta(seconds=30)
    run, steps = run_and_steps()
    assert impl.insert_run(run=run, steps=steps, now=at) is True
    assert set(Task.objects.filter(run_id=run.id).values_list("run_after", flat=True)) == {at}
    [claimed] = impl.claim(limit=1, worker="w", now=clock.now())
    done_at = clock.now() + timedelta(seconds=7)
    assert complete(impl, claimed, done_at).applied
    assert Task.objects.get(id=claimed.id).finished_at == done_at
    assert AgentRun.objects.get(task_id=claimed.id).finished_at == done_at
