"""The engine's fast paths (one statement per state change on Postgres, the hand-off of the
next step to the worker that completed the previous one) keep the engine's rules: claim order,
concurrency limits, the one-step-per-claim rule, the fence, and what a plain `task_complete`
does. Each test runs on whichever database runs the suite unless marked Postgres only."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orchestration import clock, queue, queue_pg, services
from orchestration.budget import Budget
from orchestration.execution import tick
from orchestration.limits import parse_limits
from orchestration.models import AgentRun, AttemptOutcome, RunStatus, Task, TaskStatus
from orchestration.retry import RetryPolicy
from orchestration.workflows import Step, Workflow, register_workflow
from tests.conftest import postgres_only

pytestmark = pytest.mark.django_db

CHAIN = register_workflow(
    Workflow(
        name="test-fast-chain",
        version=1,
        steps=tuple(
            Step(f"s{i}", "engine.echo", needs=(f"s{i - 1}",) if i else (), retry=RetryPolicy(max_attempts=1))
            for i in range(4)
        ),
    )
)

# s0 -> limited (a key with a limit) -> after
GUARDED = register_workflow(
    Workflow(
        name="test-fast-guarded",
        version=1,
        steps=(
            Step("s0", "engine.echo"),
            Step("limited", "engine.echo", needs=("s0",), concurrency_key="provider:guarded"),
            Step("after", "engine.echo", needs=("limited",)),
        ),
    )
)


def steps(run) -> dict[str, Task]:
    return {t.step: t for t in Task.objects.filter(run=run)}


def claim_one(**kwargs) -> queue.ClaimedTask:
    [claimed] = queue.claim(limit=10, worker="w", now=clock.now(), **kwargs)
    return claimed


def test_a_completion_hands_the_worker_the_step_it_made_ready_with_a_fresh_lease_and_its_inputs() -> None:
    run = services.run_start(workflow="test-fast-chain", input={"n": 1})
    first = claim_one()

    applied, following = services.task_complete_and_claim_next(
        task_id=first.id, output={"from": "s0"}, lease_token=first.lease_token, run_id=first.run_id, worker="w"
    )

    assert applied
    if connection.vendor != "postgresql":
        assert following is None  # the portable path completes and queues; the loop claims it
        assert steps(run)["s1"].status == TaskStatus.QUEUED
        return
    assert following is not None and following.step == "s1"
    assert following.attempt == 1 and following.lease_token not in (None, first.lease_token)
    assert following.inputs == {"s0": {"from": "s0"}}
    row = steps(run)["s1"]
    assert (row.status, row.lease_token, row.claimed_by, row.attempt) == (
        TaskStatus.RUNNING,
        following.lease_token,
        "w",
        1,
    )
    [attempt] = AgentRun.objects.filter(task_id=following.id)
    assert (attempt.outcome, attempt.lease_token) == (AttemptOutcome.RUNNING, following.lease_token)
    assert queue.claim(limit=10, worker="other", now=clock.now()) == [], "handed to one worker, claimable by none"


@postgres_only
def test_no_hand_off_when_due_work_of_the_same_priority_is_waiting_its_turn() -> None:
    run = services.run_start(workflow="test-fast-chain")
    first = claim_one()
    older = services.enqueue("engine.noop")  # queued before the step becomes ready: it goes first

    applied, following = services.task_complete_and_claim_next(
        task_id=first.id, output={}, lease_token=first.lease_token, run_id=first.run_id, worker="w"
    )

    assert applied and following is None
    assert steps(run)["s1"].status == TaskStatus.QUEUED
    assert [t.id for t in queue.claim(limit=1, worker="w", now=clock.now())] == [older.id]


@postgres_only
def test_a_step_of_a_limited_key_is_never_handed_off(settings) -> None:
    settings.ORCHESTRATION = {**settings.ORCHESTRATION, "CONCURRENCY_LIMITS": parse_limits("provider:guarded=1")}
    run = services.run_start(workflow="test-fast-guarded")
    first = claim_one()

    applied, following = services.task_complete_and_claim_next(
        task_id=first.id, output={}, lease_token=first.lease_token, run_id=first.run_id, worker="w"
    )

    assert applied and following is None
    assert steps(run)["limited"].status == TaskStatus.QUEUED  # the limited claim takes it, under its limit


def test_a_plain_task_complete_never_claims_anything() -> None:
    run = services.run_start(workflow="test-fast-chain")
    first = claim_one()

    assert services.task_complete(task_id=first.id, output={}, lease_token=first.lease_token)

    assert steps(run)["s1"].status == TaskStatus.QUEUED
    assert steps(run)["s1"].lease_token is None


def test_a_stale_completion_hands_nothing_off_and_is_recorded() -> None:
    run = services.run_start(workflow="test-fast-chain")
    first = claim_one()
    services.task_release(task_id=first.id, lease_token=first.lease_token)  # the lease is gone

    applied, following = services.task_complete_and_claim_next(
        task_id=first.id, output={}, lease_token=first.lease_token, run_id=first.run_id, worker="w"
    )

    assert (applied, following) == (False, None)
    assert steps(run)["s1"].status == TaskStatus.WAITING
    assert AgentRun.objects.filter(task_id=first.id, outcome=AttemptOutcome.STALE).count() == 1


def test_a_chain_runs_on_one_worker_with_one_claim_and_every_step_once() -> None:
    run = services.run_start(workflow="test-fast-chain", input={"n": 2})

    with CaptureQueriesContext(connection) as queries:
        report = tick(budget=Budget.seconds(30), recover=False, worker="w")

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert (report.claimed, report.succeeded, report.stale) == (4, 4, 0)
    by_step = steps(run)
    assert all(t.status == TaskStatus.SUCCEEDED and t.attempt == 1 for t in by_step.values())
    assert by_step["s3"].output["inputs"] == {"s2": by_step["s2"].output}
    assert AgentRun.objects.filter(run=run, outcome=AttemptOutcome.SUCCEEDED).count() == 4
    if connection.vendor == "postgresql":
        claims = [q for q in queries if "WITH eligible AS" in q["sql"]]
        assert len(claims) == 2, "the first step and the final, empty claim: the others were handed off"


def test_a_tick_with_max_tasks_hands_off_no_more_than_it_may_run() -> None:
    run = services.run_start(workflow="test-fast-chain")

    report = tick(budget=Budget.seconds(30), recover=False, worker="w", max_tasks=2)

    assert report.claimed == 2
    assert sorted(t.step for t in Task.objects.filter(run=run, status=TaskStatus.SUCCEEDED)) == ["s0", "s1"]
    assert steps(run)["s2"].status == TaskStatus.QUEUED


@postgres_only
def test_a_claim_without_limited_work_is_one_statement_that_opens_the_attempts_and_reads_the_inputs(
    settings,
) -> None:
    settings.ORCHESTRATION = {**settings.ORCHESTRATION, "CONCURRENCY_LIMITS": parse_limits("provider:guarded=1")}
    run = services.run_start(workflow="test-fast-chain")
    first = claim_one()
    services.task_complete(task_id=first.id, output={"k": 1}, lease_token=first.lease_token)
    queue_pg._limited_work_seen = False

    with CaptureQueriesContext(connection) as queries:
        second = claim_one()

    assert len(queries) == 1, [q["sql"][:80] for q in queries]
    assert second.step == "s1" and second.inputs == {"s0": {"k": 1}}
    assert AgentRun.objects.filter(task_id=second.id, lease_token=second.lease_token, outcome="running").count() == 1
    assert steps(run)["s1"].status == TaskStatus.RUNNING


@postgres_only
def test_a_claim_that_meets_a_limited_key_takes_the_locking_path_and_keeps_the_limit(settings) -> None:
    settings.ORCHESTRATION = {**settings.ORCHESTRATION, "CONCURRENCY_LIMITS": parse_limits("provider:x=1")}
    ids = [services.enqueue("engine.noop", concurrency_key="provider:x").id for _ in range(3)]
    queue_pg._limited_work_seen = False

    first = queue.claim(limit=10, worker="w1", now=clock.now())
    second = queue.claim(limit=10, worker="w2", now=clock.now())

    assert [t.id for t in first] == ids[:1]
    assert second == [], "the key's one slot is taken"
    assert queue_pg._limited_work_seen, "limited work is due: the next claims lock first"


@postgres_only
def test_run_start_is_one_statement_without_a_status_hook_and_honours_its_idempotency_key() -> None:
    with CaptureQueriesContext(connection) as queries:
        run = services.run_start(workflow="test-fast-chain", input={"n": 3}, idempotency_key="order:fast")
    assert len(queries) == 2, [q["sql"][:60] for q in queries]  # the key's lookup, then the insert
    again = services.run_start(workflow="test-fast-chain", idempotency_key="order:fast")
    assert again.id == run.id
    by_step = steps(run)
    assert [by_step[f"s{i}"].status for i in range(4)] == ["queued", "waiting", "waiting", "waiting"]
    assert by_step["s0"].input == {"n": 3} and by_step["s1"].needs == ["s0"]
    assert by_step["s0"].idempotency_key == f"{run.id}:s0:g1"
    run.refresh_from_db()
    assert (run.status, run.generation, run.definition["name"]) == (RunStatus.RUNNING, 1, "test-fast-chain")


def test_enqueue_returns_the_task_as_stored() -> None:
    task = services.enqueue("engine.echo", {"n": 4}, priority=3, concurrency_key="k")
    stored = Task.objects.get(id=task.id)
    for field in ("action", "input", "priority", "status", "max_attempts", "retry", "concurrency_key", "run_after"):
        assert getattr(task, field) == getattr(stored, field), field
    assert task.pk == stored.pk and not task._state.adding


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_an_idle_worker_sleeps_through_its_own_notify_and_wakes_for_another_sessions() -> None:
    import psycopg

    from orchestration.listener import DedicatedListener
    from orchestration.worker import Worker, WorkerOptions
    from tests.conftest import database_url_of_test_db

    url = "postgresql://" + database_url_of_test_db().split("://", 1)[1]
    worker = Worker(WorkerOptions())
    worker._listener = DedicatedListener.connect(url)
    try:
        queue.notify_ready()  # this process's connection (autocommit: sent now)
        assert not worker._notified(timeout=0.3), "its own commit: its loop claims that work itself"
        with psycopg.connect(url, autocommit=True) as other:
            other.execute(f"NOTIFY {queue.NOTIFY_CHANNEL}")
        assert worker._notified(timeout=5)
    finally:
        worker._listener.close()
        connection.close()


HOOK_CALLS: list[tuple[str, str, dict, dict]] = []


def record_run_status(run) -> None:
    """A status hook (on_finish) for the test below: what it was given."""
    HOOK_CALLS.append((str(run.id), run.status, run.definition, run.input))


HOOKED = register_workflow(
    Workflow(
        name="test-fast-hooked",
        version=1,
        on_finish="tests.integration.orchestration.test_engine_fast_paths.record_run_status",
        steps=(Step("a", "engine.echo"), Step("b", "engine.echo", needs=("a",))),
    )
)


def test_the_run_a_completion_finishes_reaches_its_status_hook_as_the_orm_loads_it() -> None:
    HOOK_CALLS.clear()
    run = services.run_start(workflow="test-fast-hooked", input={"project": "p1"})

    tick(budget=Budget.seconds(30), recover=False, worker="w")

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.finished_at is not None
    started, finished = HOOK_CALLS
    assert started[:2] == (str(run.id), RunStatus.RUNNING)
    assert finished[:2] == (str(run.id), RunStatus.SUCCEEDED)
    assert finished[2] == run.definition and finished[2]["on_finish"].endswith("record_run_status")
    assert finished[3] == {"project": "p1"}


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_claim_never_waits_for_a_completion_holding_its_runs_lock() -> None:
    """The run lock is FOR NO KEY UPDATE: a concurrent claim's foreign-key check on the run (its
    new attempt row) passes it. With FOR UPDATE the two could deadlock (the claim's SKIP LOCKED
    scan can hold a lock on the very task the completion is updating)."""
    import threading

    import psycopg

    from tests.conftest import database_url_of_test_db

    run = services.run_start(workflow="test-diamond")
    url = "postgresql://" + database_url_of_test_db().split("://", 1)[1]
    claimed: list[list[queue.ClaimedTask]] = []
    with psycopg.connect(url) as holder:  # a completion of this run, between its lock and its commit
        holder.execute(queue_pg._PG_LOCK_RUN.replace("%(run_id)s", "%s"), [str(run.id)])

        def claimer() -> None:
            try:
                claimed.append(queue.claim(limit=10, worker="w", now=clock.now()))
            finally:
                connection.close()

        thread = threading.Thread(target=claimer)
        thread.start()
        thread.join(timeout=10)
        waited = thread.is_alive()
        holder.rollback()
    thread.join(timeout=10)
    assert not waited, "the claim waited for the run's lock"
    assert [t.step for t in claimed[0]] == ["start"]
