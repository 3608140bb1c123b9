"""The load test's fault plan and its faults: off unless ENGINE_FAULTS holds a plan.

`manage.py loadtest` starts its workers with a plan (JSON) in the environment; the
engine's seam (orchestration/faults.py) then loads `injector` by its dotted path
(settings.ORCHESTRATION["FAULT_INJECTOR"]), and before each attempt the executor
calls the hook it made, which asks the plan whether this attempt should
fail (retryably or for good), hang past its timeout, lose its database
connection, or be killed with SIGKILL. Decisions are a pure function of
(seed, task, attempt), so the driver computes from the plan alone which
orders must fail, and which attempts it must kill.

A fault hits an attempt once, at its first invocation: a continuation (a checkpointed attempt in a new invocation) of
the same attempt runs clean, or a chunked step that checkpoints would meet its
fault again at every chunk. Faults spare each task's last attempt, so an order
dies of injected faults only when the plan says "permanent".

- kill: the worker waits, lease renewed, for the driver's SIGKILL (so the
  driver knows the moment and what the process held); alone, it kills itself.
- hang: the attempt sleeps past its step's whole timeout (counted from its
  claim, not from the tick's budget) until its lease is lost and it has been
  recovered as timed out; then it raises, and its report is stale.
- drop_db: the server drops the worker's connection, as pg_terminate_backend
  or a failover would; the attempt fails on its next query, the worker
  reconnects.
- retryable, permanent: the action raises that error.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from django import db
from django.db import connection

from orchestration import clock, services
from orchestration.conf import engine_settings
from orchestration.exceptions import PermanentError, RetryableError
from orchestration.models import AgentRun, AttemptOutcome, Task, TaskStatus

KILL, HANG, DROP_DB, RETRYABLE, PERMANENT = "kill", "hang", "drop_db", "retryable", "permanent"
FAULTS = (KILL, HANG, DROP_DB, RETRYABLE, PERMANENT)
POLL_SECONDS = 0.2

# How faults wait. Tests put a fake clock's `advance` here, to test hangs without sleeping
# (the engine's clock, orchestration.clock, is what the waits are measured on).
sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class FaultPlan:
    seed: int = 0
    failure_rate: float = 0.0  # share of attempts that raise
    permanent_share: float = 0.05  # of those, the share that raise a permanent error
    kill_rate: float = 0.0  # share of attempts whose process is SIGKILLed
    hang_rate: float = 0.0  # share of attempts that hang past their step's timeout
    db_drop_rate: float = 0.0  # share of attempts whose database connection is cut
    # A step with a longer timeout never hangs: waiting it out would make the test slower, not harsher.
    max_hang_seconds: float = 65.0
    # How long a doomed worker waits for the driver's SIGKILL before killing itself.
    kill_wait_seconds: float = 15.0
    # How long a hung attempt whose lease lapsed waits for another worker to recover it before
    # recovering it itself, as its own next tick would: a lone worker must not wait forever.
    hang_recovery_wait_seconds: float = 5.0
    # Actions never faulted: the load test's own plain tasks, whose executions a sink counts
    # (a fault injected before one would be indistinguishable from the engine running it twice).
    spared_actions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("failure_rate", "permanent_share", "kill_rate", "hang_rate", "db_drop_rate"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        for name in ("max_hang_seconds", "kill_wait_seconds", "hang_recovery_wait_seconds"):
            value = getattr(self, name)
            if not 0 < value < float("inf"):
                raise ValueError(f"{name} must be a positive number of seconds, got {value}")

    @classmethod
    def from_json(cls, text: str) -> FaultPlan:
        data = json.loads(text)
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "spared_actions" in fields:
            fields["spared_actions"] = tuple(fields["spared_actions"])
        return cls(**fields)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    def decide(self, *, task_id: int, attempt: int, max_attempts: int) -> str | None:
        if attempt >= max_attempts:
            return None
        rng = random.Random(f"{self.seed}:{task_id}:{attempt}")
        roll = rng.random()
        for fault, rate in ((KILL, self.kill_rate), (HANG, self.hang_rate), (DROP_DB, self.db_drop_rate)):
            if roll < rate:
                return fault
            roll -= rate
        if roll < self.failure_rate:
            return PERMANENT if rng.random() < self.permanent_share else RETRYABLE
        return None

    def fault_for(self, *, task_id: int, attempt: int, max_attempts: int, timeout_seconds: float) -> str | None:
        """The fault this attempt really meets: `decide`, less the hangs the plan spares (long steps).

        The worker and the load-test driver both ask this, so they agree on every attempt.
        """
        fault = self.decide(task_id=task_id, attempt=attempt, max_attempts=max_attempts)
        if fault == HANG and timeout_seconds > self.max_hang_seconds:
            return None
        return fault


@dataclass(frozen=True)
class Injector:
    """The engine's fault hook for one plan (orchestration.faults.FaultHook)."""

    plan: FaultPlan

    def __call__(self, *, task_id: int, attempt: int, max_attempts: int, timeout_left: float | None = None) -> None:
        inject(self.plan, task_id=task_id, attempt=attempt, max_attempts=max_attempts, timeout_left=timeout_left)


def injector(text: str) -> Injector:
    """The hook for the plan ENGINE_FAULTS holds (JSON): what FAULT_INJECTOR names."""
    return Injector(FaultPlan.from_json(text))


@dataclass(frozen=True)
class _AttemptState:
    timeout_seconds: float
    action: str
    lease_token: uuid.UUID | None
    claimed_at: datetime  # when this attempt's first invocation was claimed
    continuation: bool  # an earlier invocation of this attempt checkpointed


def inject(
    plan: FaultPlan, *, task_id: int, attempt: int, max_attempts: int, timeout_left: float | None = None
) -> None:
    """Apply the plan's fault for this attempt, if any (called just before the action runs).

    `timeout_left` (what the executor passes) is not used: the tick's budget caps it, and
    a hang must outlast the step's whole timeout, which is read from the task's row.
    """
    if plan.decide(task_id=task_id, attempt=attempt, max_attempts=max_attempts) is None:
        return  # the common case costs no query
    state = _attempt_state(task_id, attempt)
    if state is None or state.continuation or state.action in plan.spared_actions:
        return
    fault = plan.fault_for(
        task_id=task_id, attempt=attempt, max_attempts=max_attempts, timeout_seconds=state.timeout_seconds
    )
    if fault == KILL:
        _await_kill(plan)
    elif fault == HANG:
        _hang(plan, task_id=task_id, attempt=attempt, state=state)
    elif fault == DROP_DB:
        drop_connection()
    elif fault == RETRYABLE:
        raise RetryableError(f"injected retryable fault (task {task_id}, attempt {attempt})")
    elif fault == PERMANENT:
        raise PermanentError(f"injected permanent fault (task {task_id}, attempt {attempt})")


def _attempt_state(task_id: int, attempt: int) -> _AttemptState | None:
    task = Task.objects.filter(id=task_id).values("timeout_seconds", "action", "lease_token").first()
    # A released claim never started the attempt, and a stale row is not an invocation at all.
    invocations = list(
        AgentRun.objects.filter(task_id=task_id, attempt=attempt)
        .exclude(outcome__in=[AttemptOutcome.STALE, AttemptOutcome.RELEASED])
        .order_by("id")
        .values_list("outcome", "started_at")
    )
    if task is None or not invocations:
        return None
    return _AttemptState(
        timeout_seconds=task["timeout_seconds"],
        action=task["action"],
        lease_token=task["lease_token"],
        claimed_at=invocations[0][1],
        continuation=any(outcome == AttemptOutcome.CONTINUED for outcome, _ in invocations),
    )


def _await_kill(plan: FaultPlan) -> None:
    deadline = clock.monotonic() + plan.kill_wait_seconds
    while clock.monotonic() < deadline:
        sleep(POLL_SECONDS / 4)  # the heartbeat thread keeps the lease meanwhile: the task looks alive
    os.kill(os.getpid(), signal.SIGKILL)


def _hang(plan: FaultPlan, *, task_id: int, attempt: int, state: _AttemptState) -> None:
    # The heartbeat renews the lease until the step's timeout is reached; it lapses within a lease after.
    lease = engine_settings.LEASE_SECONDS
    _sleep_until(state.claimed_at + timedelta(seconds=state.timeout_seconds + lease))
    soft = clock.now() + timedelta(seconds=plan.hang_recovery_wait_seconds)
    hard = soft + timedelta(seconds=plan.hang_recovery_wait_seconds)
    while _still_held(task_id, state.lease_token) and clock.now() < hard:
        if clock.now() >= soft:
            services.recover_expired_leases()
        sleep(POLL_SECONDS)
    raise RetryableError(
        f"injected hang: attempt {attempt} of task {task_id} overran its {state.timeout_seconds:g} s timeout"
    )


def _sleep_until(moment: datetime) -> None:
    while (left := (moment - clock.now()).total_seconds()) > 0:
        sleep(min(left, 1.0))


def _still_held(task_id: int, lease_token: uuid.UUID | None) -> bool:
    return Task.objects.filter(id=task_id, status=TaskStatus.RUNNING, lease_token=lease_token).exists()


def drop_connection() -> None:
    """Have this thread's database connection dropped, as pg_terminate_backend or a failover would."""
    if connection.vendor == "postgresql":
        # The server ends the session while answering, so the statement itself may fail: expected.
        with contextlib.suppress(db.Error), connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        return
    raw: Any = connection.connection
    if raw is not None:
        raw.close()
