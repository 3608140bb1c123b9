"""A property-based model of one task's life (hypothesis state machine).

Any interleaving of claims, reports from current and stale attempts, lease
expiries, heartbeats, checkpoints and releases must keep the task's state legal:
an attempt budget never exceeded, one open attempt at most, a succeeded output
never overwritten, and a stale report never applied.
"""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from orchestration import clock as engine_clock
from orchestration import queue, services
from orchestration.models import AgentRun, AttemptOutcome, Task, TaskStatus
from orchestration.retry import RetryPolicy
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
            assert Task.objects.get(id=self.task.id).attempt <= MAX_ATTEMPTS

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
