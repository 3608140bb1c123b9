"""A property-based model of one task's life (hypothesis state machine).

Any interleaving of claims, reports from current and stale attempts, lease
expiries, heartbeats, checkpoints and releases must keep the task's state legal:
an attempt budget never exceeded, one open attempt at most, a succeeded output
never overwritten, and a stale report never applied.

The second machine adds a workflow run's operator acts (cancel, replay from the failed step
or from scratch, retry of the dead task) interleaved with late reports and heartbeats from
any earlier attempt or generation, fenced by lease token or by attempt number.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from orchestration import clock as engine_clock
from orchestration import queue, services
from orchestration.models import AgentRun, AttemptOutcome, RunStatus, Task, TaskStatus, WorkflowRun
from orchestration.retry import RetryPolicy
from orchestration.services import Actor
from orchestration.workflows import Step, Workflow, register_workflow
from tests.conftest import FakeClock

MAX_ATTEMPTS = 3
TIMEOUT = 10.0


class TaskLifecycle(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        Task.objects.all().delete()  # examples share the test's transaction: start each from an empty queue
        self.clock = FakeClock()
        engine_clock.set_clock(now=self.clock.now, monotonic=self.clock.monotonic)
        policy = RetryPolicy(max_attempts=MAX_ATTEMPTS, base_seconds=1, cap_seconds=4)
        self.task = services.enqueue("engine.noop", retry=policy, timeout_seconds=TIMEOUT)
        self.tokens: list[uuid.UUID] = []  # every lease ever handed out, newest last
        self.current: uuid.UUID | None = None
        self.output: dict | None = None

    def teardown(self) -> None:
        engine_clock.set_clock()

    def _status(self) -> str:
        return Task.objects.get(id=self.task.id).status

    @rule(seconds=st.sampled_from([0.5, 3, 6, 11]))
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule()
    def claim(self) -> None:
        claimed = [t for t in queue.claim(limit=5, worker="w", now=self.clock.now()) if t.id == self.task.id]
        if claimed:
            assert self._status() == TaskStatus.RUNNING
            self.current = claimed[0].lease_token
            self.tokens.append(self.current)

    @precondition(lambda self: self.current is not None)
    @rule(value=st.integers(0, 100))
    def complete(self, value: int) -> None:
        if services.task_complete(task_id=self.task.id, output={"v": value}, lease_token=self.current):
            self.output = {"v": value}
        self.current = None

    @precondition(lambda self: self.current is not None)
    @rule(retryable=st.booleans())
    def fail(self, retryable: bool) -> None:
        services.task_fail(task_id=self.task.id, error="boom", retryable=retryable, lease_token=self.current)
        self.current = None

    @precondition(lambda self: self.current is not None)
    @rule()
    def checkpoint(self) -> None:
        services.task_continue(task_id=self.task.id, cursor={"at": 1}, lease_token=self.current)
        self.current = None

    @precondition(lambda self: self.current is not None)
    @rule()
    def release(self) -> None:
        services.task_release(task_id=self.task.id, lease_token=self.current)
        self.current = None

    @precondition(lambda self: self.current is not None)
    @rule()
    def heartbeat(self) -> None:
        services.task_heartbeat(task_id=self.task.id, lease_token=self.current, extend_seconds=TIMEOUT)

    @rule()
    def recover(self) -> None:
        services.recover_expired_leases()

    @precondition(lambda self: len(self.tokens) > 1)
    @rule(data=st.data())
    def stale_report(self, data) -> None:
        old = data.draw(st.sampled_from(self.tokens[:-1]))
        before = Task.objects.filter(id=self.task.id).values().get()
        applied = services.task_complete(task_id=self.task.id, output={"stale": True}, lease_token=old)
        assert not applied
        assert Task.objects.filter(id=self.task.id).values().get() == before

    @invariant()
    def attempts_within_budget(self) -> None:
        if hasattr(self, "task"):
            assert Task.objects.get(id=self.task.id).attempts_spent <= MAX_ATTEMPTS

    @invariant()
    def at_most_one_open_attempt(self) -> None:
        if hasattr(self, "task"):
            open_runs = AgentRun.objects.filter(task_id=self.task.id, outcome=AttemptOutcome.RUNNING).count()
            assert open_runs == (1 if self._status() == TaskStatus.RUNNING else 0)

    @invariant()
    def success_is_final(self) -> None:
        if hasattr(self, "task") and self.output is not None:
            task = Task.objects.get(id=self.task.id)
            assert (task.status, task.output) == (TaskStatus.SUCCEEDED, self.output)

    @invariant()
    def a_running_task_holds_a_lease(self) -> None:
        if hasattr(self, "task"):
            task = Task.objects.get(id=self.task.id)
            assert (task.status == TaskStatus.RUNNING) == (task.lease_token is not None)


@pytest.mark.django_db
def test_task_lifecycle_state_machine() -> None:
    TaskLifecycle.TestCase.settings = settings(
        max_examples=40, stateful_step_count=30, deadline=None, suppress_health_check=list(HealthCheck)
    )
    TaskLifecycle.TestCase().runTest()


# --- Runs: replay, cancel and retry, with late reports from earlier attempts and generations ---

RUN_ATTEMPTS = 2
SM_WORKFLOW = register_workflow(
    Workflow(
        name="test-state-machine",
        version=1,
        steps=(
            Step(
                "only",
                "engine.echo",
                timeout_seconds=TIMEOUT,
                retry=RetryPolicy(max_attempts=RUN_ATTEMPTS, base_seconds=1, cap_seconds=2),
            ),
        ),
    )
)
STAFF = Actor(label="test:state-machine")


@dataclass(frozen=True)
class Lease:
    token: uuid.UUID
    attempt: int
    generation: int


class RunLifecycle(RuleBasedStateMachine):
    """One step of one run. Besides the attempt's own reports: cancel, replay (from the failed
    step or from scratch) and retry of the dead task, each starting a new generation, and at any
    moment a late report or heartbeat from any earlier lease, fenced by its token (inline) or by
    its attempt number alone (an HTTP agent without the token)."""

    @initialize()
    def start(self) -> None:
        WorkflowRun.objects.all().delete()
        Task.objects.all().delete()
        self.clock = FakeClock()
        engine_clock.set_clock(now=self.clock.now, monotonic=self.clock.monotonic)
        self.run = services.run_start(workflow="test-state-machine")
        self.task_id = Task.objects.get(run=self.run).id
        self.leases: list[Lease] = []  # every lease ever handed out, oldest first
        self.current: Lease | None = None
        self.output: dict | None = None

    def teardown(self) -> None:
        engine_clock.set_clock()

    def _task(self) -> Task:
        return Task.objects.get(id=self.task_id)

    def _run(self) -> WorkflowRun:
        return WorkflowRun.objects.get(id=self.run.id)

    def _lost_current(self) -> None:
        """The current lease is gone if the task no longer runs under it (recovered, cancelled)."""
        if self.current is not None and self._task().lease_token != self.current.token:
            self.current = None

    @rule(seconds=st.sampled_from([0.5, 3, 11]))
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @precondition(lambda self: self._task().status == TaskStatus.QUEUED)
    @rule()
    def claim(self) -> None:
        claimed = queue.claim(limit=1, worker="w", now=self.clock.now())
        if claimed:
            (task,) = claimed
            assert all(task.attempt != old.attempt for old in self.leases), "an attempt number came back"
            self.current = Lease(task.lease_token, task.attempt, self._run().generation)
            self.leases.append(self.current)

    @precondition(lambda self: self.current is not None)
    @rule(value=st.integers(0, 100), by_attempt=st.booleans())
    def complete(self, value: int, by_attempt: bool) -> None:
        fence = {"attempt": self.current.attempt} if by_attempt else {"lease_token": self.current.token}
        if services.task_complete(task_id=self.task_id, output={"v": value}, **fence):
            self.output = {"v": value}
        self.current = None

    @precondition(lambda self: self.current is not None)
    @rule(retryable=st.booleans())
    def fail(self, retryable: bool) -> None:
        services.task_fail(task_id=self.task_id, error="boom", retryable=retryable, lease_token=self.current.token)
        self.current = None

    @precondition(lambda self: self.current is not None)
    @rule()
    def heartbeat(self) -> None:
        services.task_heartbeat(task_id=self.task_id, lease_token=self.current.token, extend_seconds=TIMEOUT)

    @rule()
    def recover(self) -> None:
        services.recover_expired_leases()
        self._lost_current()

    # Preconditions read the database, so each act is drawn only where it applies (hypothesis
    # otherwise spends whole examples on acts that are refused).
    @precondition(lambda self: self._run().status == RunStatus.RUNNING)
    @rule()
    def cancel(self) -> None:
        services.run_cancel(run=self._run(), actor=STAFF)
        self.current = None

    @precondition(lambda self: self._run().status in (RunStatus.FAILED, RunStatus.CANCELLED))
    @rule(mode=st.sampled_from(["failed", "scratch"]))
    def replay(self, mode: str) -> None:
        services.run_replay(run=self._run(), actor=STAFF, mode=mode)
        self.output = None

    @precondition(lambda self: self._task().status == TaskStatus.DEAD and self._run().status == RunStatus.FAILED)
    @rule()
    def retry(self) -> None:
        services.task_retry(task=self._task(), actor=STAFF)

    @precondition(lambda self: any(lease != self.current for lease in self.leases))
    @rule(data=st.data(), kind=st.sampled_from(["completed", "failed", "heartbeat", "progress"]))
    def late_report(self, data, kind: str) -> None:
        old = data.draw(st.sampled_from([lease for lease in self.leases if lease != self.current]))
        fence = data.draw(st.sampled_from([{"lease_token": old.token}, {"attempt": old.attempt}]))
        before = Task.objects.filter(id=self.task_id).values().get()
        if kind == "completed":
            applied = services.task_complete(task_id=self.task_id, output={"stale": True}, **fence)
        elif kind == "failed":
            applied = services.task_fail(task_id=self.task_id, error="late", retryable=False, **fence)
        elif kind == "heartbeat":
            applied = services.task_heartbeat(task_id=self.task_id, extend_seconds=1000, **fence) is not None
        else:
            applied = services.task_progress(task_id=self.task_id, progress={"late": True}, **fence)
        assert not applied, f"a {kind} report of {old} (fenced by {fence}) was applied"
        assert Task.objects.filter(id=self.task_id).values().get() == before

    @invariant()
    def attempts_within_budget(self) -> None:
        if hasattr(self, "task_id"):
            assert self._task().attempts_spent <= RUN_ATTEMPTS

    @invariant()
    def at_most_one_open_attempt(self) -> None:
        if hasattr(self, "task_id"):
            open_runs = AgentRun.objects.filter(task_id=self.task_id, outcome=AttemptOutcome.RUNNING).count()
            assert open_runs == (1 if self._task().status == TaskStatus.RUNNING else 0)

    @invariant()
    def a_running_task_holds_a_lease(self) -> None:
        if hasattr(self, "task_id"):
            task = self._task()
            assert (task.status == TaskStatus.RUNNING) == (task.lease_token is not None)

    @invariant()
    def success_is_the_current_generations_own(self) -> None:
        if hasattr(self, "task_id") and self.output is not None:
            task = self._task()
            assert (task.status, task.output) == (TaskStatus.SUCCEEDED, self.output)
            assert self._run().status == RunStatus.SUCCEEDED

    @invariant()
    def the_run_agrees_with_its_step(self) -> None:
        if hasattr(self, "task_id"):
            run, task = self._run(), self._task()
            expected = {
                RunStatus.SUCCEEDED: {TaskStatus.SUCCEEDED},
                RunStatus.FAILED: {TaskStatus.DEAD},
                RunStatus.CANCELLED: {TaskStatus.CANCELLED},
                RunStatus.RUNNING: {TaskStatus.QUEUED, TaskStatus.RUNNING},
            }[run.status]
            assert task.status in expected, (run.status, task.status)


@pytest.mark.django_db
def test_run_lifecycle_with_replays_and_late_reports_state_machine() -> None:
    RunLifecycle.TestCase.settings = settings(
        max_examples=40, stateful_step_count=30, deadline=None, suppress_health_check=list(HealthCheck)
    )
    RunLifecycle.TestCase().runTest()
