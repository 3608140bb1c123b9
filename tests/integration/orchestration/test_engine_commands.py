"""The operators' engine commands, `tick` and `run_worker`, as a shell runs them."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from django.core.management import call_command

from orchestration import services
from orchestration.models import Task, TaskStatus
from tests.conftest import ROOT, worker_env

pytestmark = pytest.mark.django_db(transaction=True)


def manage(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=worker_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_tick_runs_due_work_and_says_what_it_did(capsys) -> None:
    services.enqueue_many("engine.noop", [{} for _ in range(3)])
    services.enqueue("test.permanent")
    call_command("tick", "--budget", "30")
    out = capsys.readouterr().out
    assert out.startswith("tick: recovered 0, repaired 0, claimed 4, succeeded 3, failed 1")
    assert not Task.objects.filter(status=TaskStatus.QUEUED).exists()


def test_tick_json_is_one_object_with_every_count(capsys) -> None:
    services.enqueue("engine.noop")
    call_command("tick", "--json", "--max-tasks", "1")
    report = json.loads(capsys.readouterr().out)
    assert report == {
        "recovered": 0,
        "repaired": 0,
        "claimed": 1,
        "succeeded": 1,
        "failed": 0,
        "continued": 0,
        "released": 0,
        "stale": 0,
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tick", "--budget", "0"], "expected a positive number of seconds, got '0'"),
        (["tick", "--budget", "nan"], "expected a positive number of seconds, got 'nan'"),
        (["tick", "--max-tasks", "-3"], "expected a number of at least 1, got -3"),
        (["run_worker", "--processes", "0"], "expected a number of at least 1, got 0"),
        (["run_worker", "--poll-interval", "soon"], "expected a number of seconds, got 'soon'"),
        (["run_worker", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_arguments_exit_2_with_a_message_naming_the_value(args: list[str], message: str) -> None:
    result = manage(*args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_run_worker_drain_runs_everything_then_exits_0() -> None:
    ids = services.enqueue_many("test.record", [{} for _ in range(20)])
    result = manage("run_worker", "--processes", "2", "--drain", "--no-listen")
    assert result.returncode == 0, result.stdout + result.stderr
    assert Task.objects.filter(id__in=ids, status=TaskStatus.SUCCEEDED).count() == 20


@pytest.mark.django_db(transaction=True)
def test_an_idle_worker_facing_due_work_it_cannot_claim_waits_a_little_instead_of_spinning() -> None:
    """Due work its claim could not take (a key at its limit, rows another worker is claiming):
    the worker looks again after BLOCKED_RETRY_SECONDS, not at once (a busy loop against the
    database) and not after its whole poll interval."""
    from orchestration.worker import BLOCKED_RETRY_SECONDS, Worker, WorkerOptions

    services.enqueue("engine.noop")  # due now; nothing claims it here
    worker = Worker(WorkerOptions(poll_interval=5.0, listen=False))
    started = time.monotonic()
    worker._wait_for_work()
    waited = time.monotonic() - started
    assert BLOCKED_RETRY_SECONDS * 0.9 <= waited < 1.0


@pytest.mark.django_db(transaction=True)
def test_a_draining_worker_stays_while_another_workers_attempt_runs_and_leaves_once_it_is_done() -> None:
    """--drain ends with the work: one empty claim is not the end while a step still runs elsewhere."""
    import threading

    from django.db import connection

    from orchestration import clock, queue
    from orchestration.worker import Worker, WorkerOptions

    services.enqueue("engine.noop")
    [elsewhere] = queue.claim(limit=1, worker="another-host", now=clock.now())
    completed_at: list[float] = []

    def the_other_worker_finishes() -> None:
        time.sleep(0.6)
        try:
            services.task_complete(task_id=elsewhere.id, output={}, lease_token=elsewhere.lease_token)
            completed_at.append(time.monotonic())
        finally:
            connection.close()

    other = threading.Thread(target=the_other_worker_finishes)
    other.start()
    started = time.monotonic()
    try:
        Worker(WorkerOptions(poll_interval=0.1, listen=False, idle_exit=True)).run()  # signals: main thread only
        left = time.monotonic()
    finally:
        other.join(timeout=10)
    assert completed_at, "the other worker's completion did not happen"
    assert left >= completed_at[0], "it left while another worker's attempt was still running"
    assert left - started < 5, "nothing due or running: a draining worker leaves"


def test_a_workers_tick_ending_mid_batch_finishes_the_claimed_batch_instead_of_releasing_it(settings) -> None:
    """A worker's tick ends only so that recovery runs again: the batch it claimed runs to the
    end, each task once, with one attempt row each (no `released` hand-backs claimed again)."""
    from orchestration.models import AgentRun, AttemptOutcome
    from orchestration.worker import Worker, WorkerOptions

    settings.ORCHESTRATION = {**settings.ORCHESTRATION, "CLAIM_BATCH_SIZE": 3}
    tasks = [services.enqueue("test.sleep", {"seconds": 0.3}) for _ in range(3)]
    # The tick's 0.1 s are over while the batch's first task still runs.
    Worker(WorkerOptions(poll_interval=0.1, listen=False, idle_exit=True, tick_seconds=0.1)).run()
    assert set(Task.objects.values_list("status", flat=True)) == {TaskStatus.SUCCEEDED}
    outcomes = list(AgentRun.objects.order_by("task_id").values_list("task_id", "outcome"))
    assert outcomes == [(t.id, AttemptOutcome.SUCCEEDED) for t in tasks]
