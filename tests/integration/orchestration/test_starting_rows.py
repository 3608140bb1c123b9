"""What queueing a task stores: `enqueue` hands back the row as stored, field for field, and
`enqueue_many` stores every task with the fields it was given (or the documented defaults). A
task due now is due at the database's clock on Postgres, not at this host's."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection

from orchestration import services, starting
from orchestration.models import Task, TaskStatus
from orchestration.retry import RetryPolicy
from tests.conftest import postgres_only

pytestmark = pytest.mark.django_db

# Differs from every default of the Task model (3 attempts, 2 s base, ...).
POLICY = RetryPolicy(max_attempts=5, base_seconds=1.5, factor=3.0, cap_seconds=90.0, jitter=0.0)


def assert_as_stored(task: Task) -> None:
    """`task` equals its row as the ORM loads it: every column, and the same database state."""
    stored = Task.objects.get(id=task.id)
    for field in Task._meta.concrete_fields:
        assert getattr(task, field.attname) == getattr(stored, field.attname), field.attname
    assert (task._state.adding, task._state.db) == (stored._state.adding, stored._state.db)


def test_enqueue_returns_every_field_of_the_task_as_stored_from_the_first_call_of_a_process(
    clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The field list `enqueue` builds its task from is filled on a process's first call (here:
    emptied as a fresh process has it); the first task and the next are both the stored row."""
    monkeypatch.setattr(starting, "_TASK_FIELDS", [])
    later = clock.now() + timedelta(minutes=5)
    first = services.enqueue(
        "engine.echo",
        {"n": 4},
        priority=3,
        run_after=later,
        idempotency_key="order:rows:1",
        retry=POLICY,
        timeout_seconds=7.5,
        concurrency_key="provider:rows",
    )
    assert_as_stored(first)
    assert (first.idempotency_key, first.max_attempts, first.timeout_seconds) == ("order:rows:1", 5, 7.5)
    assert first.created_at is not None and first.run_after == later
    second = services.enqueue("engine.echo", {"n": 5}, idempotency_key="order:rows:2")
    assert_as_stored(second)


def test_a_task_enqueued_with_no_options_is_queued_now_with_the_default_policy_and_no_key(clock: Any) -> None:
    task = services.enqueue("engine.echo")
    assert_as_stored(task)
    assert (task.step, task.run_id, task.needs, task.status, task.attempt) == ("", None, [], TaskStatus.QUEUED, 0)
    assert (task.claimed_by, task.resume, task.last_error, task.lease_token) == ("", False, "", None)
    assert (task.input, task.priority, task.run_after) == ({}, 0, clock.now())
    assert task.retry == RetryPolicy().as_dict() and task.max_attempts == RetryPolicy().max_attempts
    assert (task.timeout_seconds, task.idempotency_key, task.concurrency_key) == (60.0, None, "")


def stored(ids: list[int]) -> list[Task]:
    return list(Task.objects.filter(id__in=ids).order_by("id"))


def test_enqueue_many_stores_every_task_with_the_fields_it_was_given(clock: Any) -> None:
    later = clock.now() + timedelta(hours=1)
    ids = services.enqueue_many(
        "engine.echo",
        [{"n": 1}, {}],
        priority=4,
        run_after=later,
        retry=POLICY,
        timeout_seconds=7.5,
        concurrency_key="provider:bulk",
    )
    tasks = stored(ids)
    assert [t.input for t in tasks] == [{"n": 1}, {}]
    for task in tasks:
        assert (task.action, task.status, task.priority, task.run_after) == ("engine.echo", "queued", 4, later)
        assert (task.retry, task.max_attempts, task.timeout_seconds) == (POLICY.as_dict(), 5, 7.5)
        assert (task.concurrency_key, task.idempotency_key, task.run_id, task.step) == ("provider:bulk", None, None, "")


def test_enqueue_many_with_no_options_queues_now_with_the_default_policy_no_priority_and_no_key(clock: Any) -> None:
    [task] = stored(services.enqueue_many("engine.echo", [{}]))
    assert (task.priority, task.run_after, task.concurrency_key, task.timeout_seconds) == (0, clock.now(), "", 60.0)
    assert task.retry == RetryPolicy().as_dict() and task.max_attempts == RetryPolicy().max_attempts


def statement_times() -> dict[int, tuple[Any, Any]]:
    with connection.cursor() as cur:
        cur.execute("SELECT id, run_after, created_at FROM orchestration_task")
        return {row[0]: (row[1], row[2]) for row in cur.fetchall()}


@postgres_only
def test_enqueue_many_due_now_is_due_at_the_moment_the_database_stored_it() -> None:
    """With the real clock, a task due now gets the database's time of the insert (the same as
    its created_at), not a time this host read before sending it: host and database clocks differ."""
    ids = services.enqueue_many("engine.echo", [{}, {}])
    times = statement_times()
    for task_id in ids:
        run_after, created_at = times[task_id]
        assert run_after == created_at, task_id


@postgres_only
def test_enqueue_many_for_later_is_due_at_the_time_given_with_the_real_clock() -> None:
    from django.utils import timezone

    later = timezone.now() + timedelta(hours=2)
    [task] = stored(services.enqueue_many("engine.echo", [{}], run_after=later))
    assert task.run_after == later
