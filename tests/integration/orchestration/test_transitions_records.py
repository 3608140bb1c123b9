"""What the transitions write down (orchestration.transitions): a closed attempt's row, a stale
report's row and log line, and a task reset for a fresh set of attempts; each field for field."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

import pytest

from orchestration import clock as engine_clock
from orchestration import queue, services
from orchestration.exceptions import NotFound
from orchestration.models import AgentRun, AttemptOutcome, RunStatus, Task, TaskStatus, WorkflowRun
from orchestration.retry import RetryPolicy
from orchestration.services import Actor
from tests.conftest import FakeClock, postgres_only
from tests.integration.orchestration.test_transitions_runs import FAIL_FAST

pytestmark = pytest.mark.django_db

STAFF = Actor(label="test:staff")


def claim_one(clock: FakeClock | None = None, worker: str = "w") -> queue.ClaimedTask:
    now = clock.now() if clock is not None else engine_clock.now()
    (claimed,) = queue.claim(limit=1, worker=worker, now=now)
    return claimed


ATTEMPT_FIELDS = ("outcome", "finished_at", "error", "error_type", "detail")


def attempt_rows(task_id: int) -> list[tuple[Any, ...]]:
    return list(AgentRun.objects.filter(task_id=task_id).order_by("id").values_list(*ATTEMPT_FIELDS))


# --- A closed attempt says how it ended, and nothing it was not told -------------------------


def test_a_continued_attempt_is_closed_with_its_cursor_and_no_error(clock) -> None:
    run = services.run_start(workflow="test-diamond")
    start = claim_one(clock)
    clock.advance(3)

    assert services.task_continue(task_id=start.id, cursor={"page": 2}, lease_token=start.lease_token)

    assert attempt_rows(start.id) == [(AttemptOutcome.CONTINUED, clock.now(), "", "", {"cursor": {"page": 2}})]
    assert run.id == Task.objects.get(id=start.id).run_id


def test_a_failed_attempt_is_closed_with_its_error_and_error_type(clock) -> None:
    task = services.enqueue("engine.noop", retry=RetryPolicy(max_attempts=3, base_seconds=1))
    claimed = claim_one(clock)
    clock.advance(2)

    assert services.task_fail(
        task_id=task.id,
        error="the provider is down",
        error_type="ProviderError",
        lease_token=claimed.lease_token,
    )

    assert attempt_rows(task.id) == [(AttemptOutcome.RETRY, clock.now(), "the provider is down", "ProviderError", None)]


# --- A stale report is kept for the record, applied never -------------------------------------


def test_a_stale_report_is_recorded_field_for_field_and_logged(clock, caplog) -> None:
    """A token-less report naming an attempt that was never claimed is stale: its row names no
    claim (no token, not the placeholder token it was fenced with) and keeps what it said."""
    run = services.run_start(workflow="test-diamond")
    start = claim_one(clock)
    clock.advance(4)

    with caplog.at_level(logging.INFO, logger="orchestration"):
        assert not services.task_continue(task_id=start.id, cursor={"page": 9}, attempt=7)

    stale = AgentRun.objects.get(task_id=start.id, outcome=AttemptOutcome.STALE)
    now = clock.now()
    assert {f: getattr(stale, f) for f in ("run_id", "action", "attempt", "lease_token", "worker")} == {
        "run_id": run.id,
        "action": "engine.echo",
        "attempt": 7,
        "lease_token": None,
        "worker": "",
    }
    assert (stale.started_at, stale.finished_at, stale.duration_ms) == (now, now, 0)
    assert (stale.error, stale.error_type) == ("", "")
    assert stale.detail == {
        "report": "continued",
        "task_status": "running",
        "current_attempt": 1,
        "cursor": {"page": 9},
    }
    [logged] = [r for r in caplog.records if r.name == "orchestration" and r.getMessage() == "stale report ignored"]
    assert (logged.action, logged.task_id, logged.report, logged.attempt) == ("stale_report", start.id, "continued", 7)
    task = Task.objects.get(id=start.id)
    assert (task.status, task.lease_token, task.cursor) == (TaskStatus.RUNNING, start.lease_token, None)


def test_a_report_for_a_task_that_does_not_exist_is_not_found_by_its_id() -> None:
    with pytest.raises(NotFound, match=r"^No task 987654321$"):
        services.task_continue(task_id=987654321, cursor={}, lease_token=uuid.uuid4())
    assert not AgentRun.objects.exists()


def test_a_failure_reported_for_a_task_that_does_not_exist_is_not_found_by_its_id() -> None:
    with pytest.raises(NotFound, match=r"^No task 987654322$"):
        services.task_fail(task_id=987654322, error="boom", lease_token=uuid.uuid4())
    assert not AgentRun.objects.exists()


# --- A reset task starts afresh ----------------------------------------------------------------


def test_a_replayed_step_is_reset_to_a_fresh_queued_task_numbered_on(clock) -> None:
    run = services.run_start(workflow=FAIL_FAST.name)
    root = claim_one(clock)
    assert services.task_complete(task_id=root.id, output={}, lease_token=root.lease_token)
    bad = claim_one(clock)
    assert bad.step == "bad"
    services.task_progress(task_id=bad.id, progress={"done": 1}, lease_token=bad.lease_token)
    services.task_fail(task_id=bad.id, error="the brief is invalid", retryable=False, lease_token=bad.lease_token)
    # As a long step leaves it: a checkpoint and an output of an earlier generation.
    Task.objects.filter(id=bad.id).update(cursor={"page": 3}, output={"old": True})
    clock.advance(60)

    services.run_replay(run=WorkflowRun.objects.get(id=run.id), actor=STAFF, mode="failed")

    task = Task.objects.get(id=bad.id)
    fresh = {
        "status": TaskStatus.QUEUED,
        "attempt": 1,
        "attempt_base": 1,
        "resume": False,
        "cursor": None,
        "output": None,
        "progress": None,
        "last_error": "",
        "lease_token": None,
        "lease_expires_at": None,
        "run_after": clock.now(),
        "started_at": None,
        "finished_at": None,
    }
    assert {f: getattr(task, f) for f in fresh} == fresh
    assert WorkflowRun.objects.get(id=run.id).status == RunStatus.RUNNING


@postgres_only
def test_a_retried_task_is_returned_with_the_time_the_database_gave_it() -> None:
    """With the real clock on Postgres the task is due at the database's now, an SQL expression
    when saved: the task handed back holds the time it was stored with, not the expression."""
    task = services.enqueue("engine.noop", retry=RetryPolicy(max_attempts=1))
    claimed = claim_one()
    services.task_fail(task_id=task.id, error="boom", retryable=False, lease_token=claimed.lease_token)

    retried = services.task_retry(task=Task.objects.get(id=task.id), actor=STAFF)

    assert isinstance(retried.run_after, datetime)
    assert retried.run_after == Task.objects.get(id=task.id).run_after
    assert retried.status == TaskStatus.QUEUED
