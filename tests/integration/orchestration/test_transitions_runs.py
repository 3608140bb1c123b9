"""The state changes every run goes through (orchestration.transitions): the stalled-run repair's
advance, a run's end, fail-fast's stop of what is left, the run lock; each checked row for row."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg
import pytest
from django.db import transaction

from orchestration import queue, services, signals, transitions
from orchestration.exceptions import NotFound
from orchestration.models import AgentRun, AttemptOutcome, RunStatus, Task, TaskStatus, WorkflowRun
from orchestration.retry import RetryPolicy
from orchestration.services import Actor
from orchestration.workflows import Step, Workflow, register_workflow
from tests.conftest import FakeClock, database_url_of_test_db, postgres_only

STAFF = Actor(label="test:staff")
ONCE = RetryPolicy(max_attempts=1)

FAIL_FAST = register_workflow(
    Workflow(
        name="test-transitions-fail-fast",
        version=1,
        fail_fast=True,
        steps=(
            Step("root", "engine.echo"),
            # Claimed before its sibling (priority): the sibling is claimed second and still running.
            Step("bad", "test.permanent", needs=("root",), retry=ONCE, priority=5),
            Step("sibling", "engine.echo", needs=("root",)),
            Step("after", "engine.echo", needs=("bad", "sibling")),
        ),
    )
)


@pytest.fixture
def finished() -> Iterator[list[tuple[Any, str, str]]]:
    """Every run_finished announcement: (run id, status, error)."""
    got: list[tuple[Any, str, str]] = []

    def hear(sender: Any, *, run: WorkflowRun, status: str, error: str, **_: Any) -> None:
        got.append((run.id, status, error))

    signals.run_finished.connect(hear, weak=False)
    yield got
    signals.run_finished.disconnect(hear)


def claim_one(clock: FakeClock, worker: str = "w") -> queue.ClaimedTask:
    (claimed,) = queue.claim(limit=1, worker=worker, now=clock.now())
    return claimed


def set_steps(run: WorkflowRun, at: datetime, **statuses: str) -> None:
    """Put the run's steps in these states, as a crash between two commits could leave them."""
    for step, status in statuses.items():
        done = status in (TaskStatus.SUCCEEDED, TaskStatus.DEAD)
        Task.objects.filter(run=run, step=step).update(
            status=status,
            output={} if status == TaskStatus.SUCCEEDED else None,
            finished_at=at if done else None,
        )


def step_rows(run: WorkflowRun) -> dict[str, Task]:
    return {t.step: t for t in Task.objects.filter(run=run)}


# --- The stalled-run repair advances a run by what its steps say ------------------------------


@pytest.mark.django_db
def test_the_repair_queues_the_ready_steps_of_a_stalled_run_and_leaves_it_running(clock) -> None:
    run = services.run_start(workflow="test-diamond")
    # The process died after `start` succeeded, before its completion queued the branches.
    set_steps(run, clock.now(), start=TaskStatus.SUCCEEDED)

    assert services.repair_stalled_runs() == 1

    run.refresh_from_db()
    assert (run.status, run.finished_at, run.error) == (RunStatus.RUNNING, None, "")
    statuses = {step: t.status for step, t in step_rows(run).items()}
    assert statuses == {"start": "succeeded", "left": "queued", "right": "queued", "join": "waiting"}
    assert services.repair_stalled_runs() == 0, "with its branches queued the run is no longer stalled"


@pytest.mark.django_db
def test_the_repair_finishes_a_stalled_run_whose_steps_all_succeeded(clock, finished) -> None:
    run = services.run_start(workflow="test-diamond")
    set_steps(run, clock.now(), start="succeeded", left="succeeded", right="succeeded", join="succeeded")
    clock.advance(30)

    assert services.repair_stalled_runs() == 1

    run.refresh_from_db()
    assert (run.status, run.finished_at, run.error) == (RunStatus.SUCCEEDED, clock.now(), "")
    assert finished == [(run.id, RunStatus.SUCCEEDED, "")]


@pytest.mark.django_db
def test_the_repair_fails_a_stalled_run_whose_dead_step_leaves_nothing_to_run(clock, finished) -> None:
    run = services.run_start(workflow="test-diamond")
    set_steps(run, clock.now(), start="succeeded", left="dead", right="succeeded")
    clock.advance(30)

    assert services.repair_stalled_runs() == 1

    run.refresh_from_db()
    error = "Steps ['left'] failed and nothing else can run"
    assert (run.status, run.finished_at, run.error) == (RunStatus.FAILED, clock.now(), error)
    assert step_rows(run)["join"].status == TaskStatus.WAITING
    assert finished == [(run.id, RunStatus.FAILED, error)]


@pytest.mark.django_db
def test_the_repair_queues_a_step_ready_beside_a_dead_one_and_keeps_the_run_running(clock, finished) -> None:
    """A dead step fails the run only when nothing else can run: its sibling still can."""
    run = services.run_start(workflow="test-diamond")
    set_steps(run, clock.now(), start="succeeded", left="dead")

    assert services.repair_stalled_runs() == 1

    run.refresh_from_db()
    assert (run.status, run.finished_at, run.error) == (RunStatus.RUNNING, None, "")
    assert step_rows(run)["right"].status == TaskStatus.QUEUED
    assert finished == []


# --- Fail-fast stops the failed run's unfinished work, and nobody else's ---------------------


@pytest.mark.django_db
def test_a_fail_fast_failure_cancels_its_runs_unfinished_steps_and_open_attempts_and_nothing_else(
    clock, finished
) -> None:
    run = services.run_start(workflow="test-transitions-fail-fast")
    root = claim_one(clock)
    assert services.task_complete(task_id=root.id, output={}, lease_token=root.lease_token)
    root_finished = clock.now()
    clock.advance(10)
    bad = claim_one(clock, "a")
    sibling = claim_one(clock, "b")
    assert (bad.step, sibling.step) == ("bad", "sibling")
    sibling_expiry = Task.objects.get(id=sibling.id).lease_expires_at
    # Someone else's work in progress: a plain task and a step of another run.
    plain = services.enqueue("engine.noop")
    other_run = services.run_start(workflow="test-diamond")
    others = [claim_one(clock), claim_one(clock)]
    assert {t.id for t in others} == {plain.id, step_rows(other_run)["start"].id}
    clock.advance(5)

    services.task_fail(task_id=bad.id, error="the brief is invalid", retryable=False, lease_token=bad.lease_token)

    now = clock.now()
    run.refresh_from_db()
    error = "Step 'bad' failed: the brief is invalid"
    assert (run.status, run.finished_at, run.error) == (RunStatus.FAILED, now, error)
    assert finished == [(run.id, RunStatus.FAILED, error)]
    rows = step_rows(run)
    assert {s: (t.status, t.finished_at) for s, t in rows.items()} == {
        "root": (TaskStatus.SUCCEEDED, root_finished),
        "bad": (TaskStatus.DEAD, now),
        "sibling": (TaskStatus.CANCELLED, now),
        "after": (TaskStatus.CANCELLED, now),
    }
    # The running sibling is fenced off (no token) but keeps its expiry: its slot until then.
    assert (rows["sibling"].lease_token, rows["sibling"].lease_expires_at) == (None, sibling_expiry)
    attempts = {a.task.step: a for a in AgentRun.objects.filter(run=run).select_related("task")}
    assert {s: (a.outcome, a.finished_at) for s, a in attempts.items()} == {
        "root": (AttemptOutcome.SUCCEEDED, root_finished),
        "bad": (AttemptOutcome.FAILED, now),
        "sibling": (AttemptOutcome.CANCELLED, now),
    }
    assert attempts["sibling"].error == "Its run failed (fail-fast)"
    assert attempts["root"].error == ""
    for other in others:
        task = Task.objects.get(id=other.id)
        assert (task.status, task.lease_token, task.finished_at) == (TaskStatus.RUNNING, other.lease_token, None)
        attempt = AgentRun.objects.get(task_id=other.id)
        assert (attempt.outcome, attempt.finished_at, attempt.error) == (AttemptOutcome.RUNNING, None, "")
    assert WorkflowRun.objects.get(id=other_run.id).status == RunStatus.RUNNING


# --- The run lock ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_locking_a_run_that_does_not_exist_is_not_found_by_its_id() -> None:
    missing = WorkflowRun(id=uuid.uuid4())
    with pytest.raises(NotFound, match=rf"^No workflow run {missing.id}$"):
        services.run_cancel(run=missing, actor=STAFF)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_run_lock_lets_a_foreign_key_check_on_the_run_through() -> None:
    """The run is locked FOR NO KEY UPDATE: a claim's insert of an attempt row checks its foreign
    key with FOR KEY SHARE, which a FOR UPDATE lock would make wait for the whole transaction."""
    run = services.run_start(workflow="test-diamond")
    url = "postgresql://" + database_url_of_test_db().split("://", 1)[1]
    with psycopg.connect(url) as other, transaction.atomic():
        transitions.lock_run(run.id)
        other.execute("SET lock_timeout = '300ms'")
        row = other.execute("SELECT 1 FROM orchestration_workflowrun WHERE id = %s FOR KEY SHARE", [run.id]).fetchone()
        other.rollback()
    assert row == (1,)
