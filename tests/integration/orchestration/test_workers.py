"""Acceptance: real worker processes against the real database."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from orchestration import services
from orchestration.models import AgentRun, AttemptOutcome, RunStatus, Task, TaskStatus
from orchestration.retry import RetryPolicy
from tests.conftest import postgres_only, start_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def wait_until(predicate, *, timeout: float, interval: float = 0.05) -> bool:
    """Poll `predicate` until true or `timeout` seconds pass (bounded: tests never hang)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def stop(process, *, timeout: float = 20) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        out, _ = process.communicate(timeout=timeout)
    except Exception:
        process.kill()
        out, _ = process.communicate()
    return out


def test_four_worker_processes_drain_2000_tasks_each_exactly_once(tmp_path: Path) -> None:
    log = tmp_path / "executions.log"
    tasks = services.enqueue_many("test.record", [{"log": str(log), "n": i} for i in range(2000)])
    worker = start_worker("--processes", "4", "--drain", ENGINE_CLAIM_BATCH_SIZE="5")
    try:
        finished = wait_until(
            lambda: not Task.objects.exclude(status=TaskStatus.SUCCEEDED).exists(), timeout=240, interval=0.5
        )
    finally:
        output = stop(worker, timeout=60)
    assert finished, f"tasks left behind; worker said:\n{output[-3000:]}"

    executions = Counter(int(line.split()[0]) for line in log.read_text().splitlines())
    assert set(executions) == {t.id for t in Task.objects.all()}
    assert max(executions.values()) == 1, "a task ran twice"
    assert len(executions) == len(tasks) == 2000
    assert AgentRun.objects.filter(outcome=AttemptOutcome.SUCCEEDED).count() == 2000
    assert not AgentRun.objects.exclude(outcome=AttemptOutcome.SUCCEEDED).exists()
    assert len({line.split()[2] for line in log.read_text().splitlines()}) > 1, "the work was shared"


def test_a_worker_killed_mid_task_is_recovered_after_its_lease_and_the_run_completes(tmp_path: Path) -> None:
    started, log = tmp_path / "started.log", tmp_path / "done.log"
    run = services.run_start(workflow="test-slow", input={"seconds": 1.0, "started": str(started), "log": str(log)})
    victim = start_worker(ENGINE_LEASE_SECONDS="1.5")
    try:
        assert wait_until(started.exists, timeout=60), stop(victim)
        victim.send_signal(signal.SIGKILL)  # no chance to release or report anything
        victim.wait(timeout=10)
    finally:
        if victim.poll() is None:
            victim.kill()
    killed_at = time.monotonic()
    rescuer = start_worker(ENGINE_LEASE_SECONDS="1.5")
    try:
        done = wait_until(lambda: RunStatus(run.__class__.objects.get(id=run.id).status) != "running", timeout=60)
    finally:
        output = stop(rescuer)
    assert done, output[-3000:]
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    slow = run.tasks.get(step="slow")
    outcomes = list(slow.agent_runs.order_by("id").values_list("attempt", "outcome"))
    assert outcomes == [(1, AttemptOutcome.TIMED_OUT), (2, AttemptOutcome.SUCCEEDED)]
    assert len(log.read_text().splitlines()) == 1, "the killed attempt never finished its side effect"
    assert time.monotonic() - killed_at < 20, "recovered after the 1.5 s lease, not the step's 60 s timeout"


def test_a_long_attempt_keeps_its_short_lease_alive_by_heartbeat(tmp_path: Path) -> None:
    log = tmp_path / "done.log"
    task = services.enqueue("test.sleep", {"seconds": 3.0, "log": str(log)}, timeout_seconds=60)
    workers = [start_worker(ENGINE_LEASE_SECONDS="1") for _ in range(2)]  # the idle one recovers leases
    try:
        done = wait_until(lambda: Task.objects.get(id=task.id).status == TaskStatus.SUCCEEDED, timeout=60)
    finally:
        outputs = [stop(w) for w in workers]
    assert done, outputs
    assert list(AgentRun.objects.filter(task=task).values_list("attempt", "outcome")) == [(1, "succeeded")]


def test_an_attempt_past_its_timeout_loses_its_lease_and_its_late_report_is_stale(tmp_path: Path) -> None:
    task = services.enqueue("test.sleep", {"seconds": 3.0}, timeout_seconds=1.0, retry=RetryPolicy(max_attempts=1))
    workers = [start_worker(ENGINE_LEASE_SECONDS="1") for _ in range(2)]
    try:
        settled = wait_until(
            lambda: AgentRun.objects.filter(task=task, outcome=AttemptOutcome.STALE).exists(), timeout=60
        )
    finally:
        outputs = [stop(w) for w in workers]
    assert settled, outputs
    task.refresh_from_db()
    assert task.status == TaskStatus.DEAD
    outcomes = list(AgentRun.objects.filter(task=task).order_by("id").values_list("outcome", flat=True))
    assert outcomes == [AttemptOutcome.TIMED_OUT, AttemptOutcome.STALE]


def test_sigterm_lets_the_current_task_finish_then_the_worker_exits_cleanly(tmp_path: Path) -> None:
    started, log = tmp_path / "started.log", tmp_path / "done.log"
    task = services.enqueue("test.sleep", {"seconds": 1.0, "started": str(started), "log": str(log)})
    worker = start_worker()
    assert wait_until(started.exists, timeout=60), stop(worker)
    worker.send_signal(signal.SIGTERM)
    output, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0, output
    task.refresh_from_db()
    assert (task.status, task.attempt) == (TaskStatus.SUCCEEDED, 1)
    assert len(log.read_text().splitlines()) == 1


def children_of(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def kill_tree(process) -> None:
    """A failed test must not leave workers behind: SIGKILL the supervisor's children, then it."""
    if process.poll() is None:
        for pid in children_of(process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.kill()
        process.communicate()


def test_sigterm_to_the_supervisor_stops_every_worker_process() -> None:
    supervisor = start_worker("--processes", "3")
    try:
        assert wait_until(lambda: len(children_of(supervisor.pid)) >= 3, timeout=60)
        children = children_of(supervisor.pid)
        supervisor.send_signal(signal.SIGTERM)
        output, _ = supervisor.communicate(timeout=30)
    finally:
        kill_tree(supervisor)
    assert supervisor.returncode == 0, output
    for pid in children:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # reaped by the supervisor: not even a zombie is left


def test_sigterm_while_the_supervisor_starts_its_children_leaves_none_behind() -> None:
    supervisor = start_worker("--processes", "3")
    try:
        assert wait_until(lambda: len(children_of(supervisor.pid)) >= 1, timeout=60, interval=0.001)
        supervisor.send_signal(signal.SIGTERM)  # as early as the first fork
        output, _ = supervisor.communicate(timeout=30)
    finally:
        kill_tree(supervisor)
    assert supervisor.returncode == 0, output
    assert children_of(supervisor.pid) == []


@postgres_only
def test_an_idle_worker_is_woken_by_notify_long_before_its_poll_interval() -> None:
    worker = start_worker("--poll-interval", "120")
    try:
        time.sleep(2)  # the worker is now idle, blocked in LISTEN
        task = services.enqueue("engine.noop")
        woke = wait_until(lambda: Task.objects.get(id=task.id).status == TaskStatus.SUCCEEDED, timeout=30)
    finally:
        output = stop(worker)
    assert woke, f"a 120 s poll interval, yet NOTIFY should wake it at once:\n{output[-2000:]}"


@postgres_only
def test_a_worker_that_cannot_listen_falls_back_to_polling() -> None:
    """Behind a pooler (or with the direct URL down) LISTEN fails: work still runs, by polling."""
    worker = start_worker("--poll-interval", "0.2", DIRECT_DATABASE_URL="postgres://postgres@127.0.0.1:1/unreachable")
    try:
        task = services.enqueue("engine.noop")
        done = wait_until(lambda: Task.objects.get(id=task.id).status == TaskStatus.SUCCEEDED, timeout=30)
    finally:
        output = stop(worker)
    assert done, output[-2000:]
    assert "LISTEN unavailable; polling" in output
