"""What the inline executor reports when an attempt raises: the error as raised (its message, or
its type's name when it has none; its type; where in our code it was raised; its traceback), the
action's own `retry_after`, the lease no longer renewed, and the outcome counted once, as failed
or, when the lease was lost meanwhile, as stale."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from orchestration import services
from orchestration.budget import Budget
from orchestration.exceptions import EffectInProgress
from orchestration.execution import execute, tick
from orchestration.heartbeat import heartbeater
from orchestration.models import AgentRun, Task, TaskStatus
from orchestration.queue import ClaimedTask, claim
from orchestration.registry import TaskContext, action
from orchestration.retry import RetryPolicy
from tests.conftest import FakeClock

pytestmark = pytest.mark.django_db

# What the action below raises next: each test says.
RAISE: dict[str, BaseException] = {}


def raise_what_the_test_says() -> None:
    raise RAISE["next"]


@action("test.execution_raises")
def raises(ctx: TaskContext) -> dict[str, Any]:
    raise_what_the_test_says()
    return {}


@pytest.fixture(autouse=True)
def _forget_what_to_raise() -> Iterator[None]:
    yield
    RAISE.clear()


def failing_task(exc: BaseException, **kwargs: Any) -> Task:
    RAISE["next"] = exc
    return services.enqueue("test.execution_raises", retry=RetryPolicy(max_attempts=3, base_seconds=1), **kwargs)


def claim_one(clock: FakeClock) -> ClaimedTask:
    [claimed] = claim(limit=1, worker="w", now=clock.now())
    return claimed


def test_a_failure_is_recorded_with_its_message_type_the_function_that_raised_it_and_its_traceback(
    clock, failures
) -> None:
    task = failing_task(RuntimeError("disk full"))
    tick(budget=Budget.seconds(5))
    [failed] = failures
    assert (failed["message"], failed["error_type"]) == ("disk full", "RuntimeError")
    # The innermost frame of our own code, not the action's name (the fallback when there is none).
    assert failed["location"] == f"{__name__}:raise_what_the_test_says"
    # The traceback as Python prints it, from its header through every frame to the error line.
    tb = failed["traceback"]
    assert tb.startswith("Traceback (most recent call last):\n  File ")
    assert "\n  File " in tb.split("\n", 2)[2], "every frame on its own line"
    assert tb.endswith("\nRuntimeError: disk full\n")
    assert Task.objects.get(id=task.id).last_error == "disk full"


def test_an_exception_without_a_message_is_recorded_by_its_type_name(clock, failures) -> None:
    task = failing_task(KeyError())
    tick(budget=Budget.seconds(5))
    assert Task.objects.get(id=task.id).last_error == "KeyError"
    assert failures[0]["message"] == "KeyError"


def test_an_effect_in_progress_is_retried_once_the_others_hold_is_over_not_at_the_usual_backoff(
    clock, failures
) -> None:
    task = failing_task(EffectInProgress("another attempt is sending it", retry_after=600))
    tick(budget=Budget.seconds(5))
    task.refresh_from_db()
    assert (task.status, task.attempt) == (TaskStatus.QUEUED, 1)
    assert task.run_after == clock.now() + timedelta(seconds=600), "not the 1 s backoff"


def test_a_failed_attempt_is_counted_once_as_failed_and_its_lease_is_no_longer_renewed(clock, failures) -> None:
    task = failing_task(RuntimeError("boom"))
    report = tick(budget=Budget.seconds(5))
    assert (report.claimed, report.failed, report.stale, report.succeeded) == (1, 1, 0, 0)
    [token] = AgentRun.objects.filter(task_id=task.id).values_list("lease_token", flat=True)
    assert token not in heartbeater.tracked_tokens()


def test_a_failure_reported_after_the_lease_was_lost_counts_as_stale_not_failed(clock, failures) -> None:
    failing_task(RuntimeError("too late"), timeout_seconds=5)
    claimed = claim_one(clock)
    clock.advance(6)  # the worker went silent past its lease: another one may have the task now
    assert services.recover_expired_leases() == 1
    report = execute(claimed, budget=Budget.seconds(5))
    assert (report.failed, report.stale) == (0, 1)
    assert claimed.lease_token not in heartbeater.tracked_tokens()
