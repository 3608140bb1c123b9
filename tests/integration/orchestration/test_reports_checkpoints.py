"""The reports of a running attempt that do not end it: a continuation (checkpoint), a release
(handed back unstarted), a progress report and a heartbeat. Each is fenced by its attempt: one
from a lost lease changes nothing (a continuation's is recorded stale), and one names a single
task even when its claim took several under one lease token."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from orchestration import queue, services
from orchestration.models import AgentRun, AttemptOutcome, Task, TaskStatus

pytestmark = pytest.mark.django_db


def claim(clock: Any, limit: int = 1) -> list[queue.ClaimedTask]:
    return queue.claim(limit=limit, worker="w", now=clock.now())


def test_a_continuation_queues_the_same_attempt_at_once_with_its_cursor_and_progress_and_no_lease(clock) -> None:
    task = services.enqueue("engine.noop", timeout_seconds=30)
    [claimed] = claim(clock)
    clock.advance(5)

    assert services.task_continue(
        task_id=task.id, cursor={"page": 2}, progress={"done": 10}, lease_token=claimed.lease_token
    )

    task.refresh_from_db()
    assert (task.status, task.resume, task.cursor, task.progress, task.attempt) == (
        TaskStatus.QUEUED,
        True,
        {"page": 2},
        {"done": 10},
        claimed.attempt,
    )
    assert task.run_after == clock.now(), "due at once: not at the claim's due time"
    assert (task.lease_token, task.lease_expires_at) == (None, None)
    attempt = AgentRun.objects.get(task=task)
    assert (attempt.outcome, attempt.finished_at, attempt.detail) == (
        AttemptOutcome.CONTINUED,
        clock.now(),
        {"cursor": {"page": 2}},
    )


def test_a_continuation_under_a_lost_lease_changes_nothing_and_is_recorded_stale(clock) -> None:
    task = services.enqueue("engine.noop", timeout_seconds=30)
    [claimed] = claim(clock)
    clock.advance(2)
    lost = uuid.uuid4()

    assert not services.task_continue(task_id=task.id, cursor={"page": 9}, lease_token=lost)

    task.refresh_from_db()
    assert (task.status, task.lease_token, task.cursor, task.resume) == (
        TaskStatus.RUNNING,
        claimed.lease_token,
        None,
        False,
    )
    assert AgentRun.objects.get(task=task, lease_token=claimed.lease_token).outcome == AttemptOutcome.RUNNING
    stale = AgentRun.objects.get(task=task, outcome=AttemptOutcome.STALE)
    assert (stale.lease_token, stale.attempt, stale.started_at, stale.finished_at) == (
        lost,
        claimed.attempt,
        clock.now(),
        clock.now(),
    )
    assert stale.detail == {
        "report": "continued",
        "task_status": TaskStatus.RUNNING,
        "current_attempt": claimed.attempt,
        "cursor": {"page": 9},
    }


def test_a_report_changes_only_its_own_task_of_a_claim_that_took_several(clock) -> None:
    """One claim gives all the tasks it takes one lease token: the token alone does not say which
    task a report is about, its task id does."""
    ids = services.enqueue_many("engine.noop", [{"n": i} for i in range(3)], timeout_seconds=30)
    claimed = claim(clock, limit=3)
    assert sorted(t.id for t in claimed) == sorted(ids) and len({t.lease_token for t in claimed}) == 1
    token = claimed[0].lease_token
    a, b, c = sorted(ids)

    assert services.task_progress(task_id=b, progress={"n": 1}, lease_token=token)
    assert services.task_continue(task_id=c, cursor={"at": 1}, lease_token=token)
    assert services.task_fail(task_id=b, error="boom", retryable=False, lease_token=token)

    rows = {t.id: t for t in Task.objects.filter(id__in=ids)}
    assert (rows[a].status, rows[a].lease_token, rows[a].progress, rows[a].cursor) == (
        TaskStatus.RUNNING,
        token,
        None,
        None,
    )
    assert (rows[b].status, rows[b].progress, rows[b].last_error) == (TaskStatus.DEAD, {"n": 1}, "boom")
    assert (rows[c].status, rows[c].cursor, rows[c].progress) == (TaskStatus.QUEUED, {"at": 1}, None)
    assert AgentRun.objects.get(task_id=a).outcome == AttemptOutcome.RUNNING


def test_a_release_hands_the_task_back_unstarted_due_at_once_and_spends_no_attempt(clock) -> None:
    task = services.enqueue("engine.noop", timeout_seconds=30)
    [claimed] = claim(clock)
    clock.advance(3)

    assert services.task_release(task_id=task.id, lease_token=claimed.lease_token)

    task.refresh_from_db()
    assert (task.status, task.resume, task.attempt) == (TaskStatus.QUEUED, True, claimed.attempt)
    assert task.run_after == clock.now()
    assert (task.lease_token, task.lease_expires_at) == (None, None)
    attempt = AgentRun.objects.get(task=task)
    assert (attempt.outcome, attempt.finished_at) == (AttemptOutcome.RELEASED, clock.now())


def test_a_release_under_a_lost_lease_changes_nothing(clock) -> None:
    task = services.enqueue("engine.noop", timeout_seconds=30)
    [claimed] = claim(clock)

    assert not services.task_release(task_id=task.id, lease_token=uuid.uuid4())

    task.refresh_from_db()
    assert (task.status, task.lease_token, task.lease_expires_at) == (
        TaskStatus.RUNNING,
        claimed.lease_token,
        claimed.lease_expires_at,
    )
    assert AgentRun.objects.get(task=task).outcome == AttemptOutcome.RUNNING


def test_the_holders_progress_is_stored_and_a_lost_leases_is_refused(clock) -> None:
    task = services.enqueue("engine.noop", timeout_seconds=30)
    [claimed] = claim(clock)

    assert services.task_progress(task_id=task.id, progress={"done": 3}, lease_token=claimed.lease_token)
    assert not services.task_progress(task_id=task.id, progress={"done": 99}, lease_token=uuid.uuid4())

    task.refresh_from_db()
    assert task.progress == {"done": 3}


def test_a_heartbeat_with_the_right_token_but_another_attempt_renews_nothing(clock) -> None:
    """A report naming both its token and its attempt is held to both."""
    task = services.enqueue("engine.noop", timeout_seconds=30)
    [claimed] = claim(clock)
    clock.advance(10)

    renewed = services.task_heartbeat(
        task_id=task.id, extend_seconds=300, lease_token=claimed.lease_token, attempt=claimed.attempt + 1
    )

    assert renewed is None
    assert Task.objects.get(id=task.id).lease_expires_at == claimed.lease_expires_at
    expiry = services.task_heartbeat(
        task_id=task.id, extend_seconds=300, lease_token=claimed.lease_token, attempt=claimed.attempt
    )
    assert expiry == clock.now() + timedelta(seconds=300)
