"""Acceptance: leases with real worker processes (issue 12, defects 1 and 5).

A finished plain task waiting for its batch's completion keeps its lease; a worker whose
clock is skewed (a real `faketime` offset on the whole process, not a hook in the engine)
neither recovers a live task from a healthy worker nor loses its own: lease times are the
database's.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from orchestration import services
from orchestration.models import AgentRun, AttemptOutcome, Task, TaskStatus
from tests.conftest import ROOT, postgres_only, start_worker, worker_env
from tests.integration.orchestration.test_workers import stop, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

FAKETIME = shutil.which("faketime")
needs_faketime = pytest.mark.skipif(FAKETIME is None, reason="needs Debian's faketime (apt-get install -y faketime)")


def executions(log: Path) -> Counter:
    return Counter(int(line.split()[0]) for line in log.read_text().splitlines()) if log.exists() else Counter()


def start_skewed_worker(offset: str, *args: str, **env: str) -> subprocess.Popen:
    """`run_worker` under faketime: every clock of the process (wall and monotonic) is shifted."""
    return subprocess.Popen(
        [FAKETIME, "-f", offset, sys.executable, str(ROOT / "manage.py"), "run_worker", *args],
        env=worker_env(**env),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_a_quick_task_finished_before_a_long_one_of_its_batch_keeps_its_lease_and_runs_once(tmp_path: Path) -> None:
    """Defect 1: one claim takes a quick task then a 6-second one; the quick one's success waits
    for the batch's completion. Its lease (3 s) must be renewed meanwhile, or a draining worker
    beside it recovers it and runs it again."""
    log, started = tmp_path / "executions.log", tmp_path / "started.log"
    quick = services.enqueue("test.record", {"log": str(log)}, timeout_seconds=30)
    slow = services.enqueue("test.sleep", {"seconds": 6, "log": str(log), "started": str(started)}, timeout_seconds=30)
    ticker = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "tick", "--budget", "60"],
        env=worker_env(ENGINE_LEASE_SECONDS="3"),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert wait_until(started.exists, timeout=60), stop(ticker)
        beside = start_worker("--drain", ENGINE_LEASE_SECONDS="3")
        try:
            ticker_out, _ = ticker.communicate(timeout=60)
            finished = wait_until(
                lambda: not Task.objects.exclude(status=TaskStatus.SUCCEEDED).exists(), timeout=60, interval=0.2
            )
        finally:
            beside_out = stop(beside)
    finally:
        if ticker.poll() is None:
            ticker.kill()
    assert finished, f"tick said:\n{ticker_out[-2000:]}\nworker said:\n{beside_out[-2000:]}"
    ran = executions(log)
    assert ran[quick.id] == 1, f"the quick task ran {ran[quick.id]} times: {_attempts(quick.id)}"
    assert ran[slow.id] == 1
    assert _attempts(quick.id) == [AttemptOutcome.SUCCEEDED]


def _attempts(task_id: int) -> list[str]:
    return list(AgentRun.objects.filter(task_id=task_id).order_by("id").values_list("outcome", flat=True))


@postgres_only
@needs_faketime
@pytest.mark.parametrize("offset", ["+30s", "-30s"])
def test_a_worker_with_a_skewed_clock_never_recovers_a_healthy_workers_live_task(tmp_path: Path, offset: str) -> None:
    """Defect 5: a healthy worker runs a 12-second task under a 2-second lease (renewed as it
    runs); a worker whose clock is 30 s off, draining beside it, recovers leases every second.
    Judged by its own clock (+30 s) every live lease looks expired to it; judged by the
    database's, none is."""
    log, started = tmp_path / "executions.log", tmp_path / "started.log"
    task = services.enqueue("test.sleep", {"seconds": 12, "log": str(log), "started": str(started)}, timeout_seconds=30)
    healthy = start_worker("--max-tasks", "1", ENGINE_LEASE_SECONDS="2")
    try:
        assert wait_until(started.exists, timeout=60), stop(healthy)
        skewed = start_skewed_worker(offset, "--drain", ENGINE_LEASE_SECONDS="2")
        try:
            finished = wait_until(lambda: Task.objects.get(id=task.id).status == TaskStatus.SUCCEEDED, timeout=60)
            assert wait_until(lambda: skewed.poll() is not None, timeout=30)
        finally:
            skewed_out = stop(skewed)
    finally:
        healthy_out = stop(healthy)
    assert finished, f"healthy:\n{healthy_out[-2000:]}\nskewed:\n{skewed_out[-2000:]}"
    assert executions(log)[task.id] == 1, f"ran twice: {_attempts(task.id)}\nskewed:\n{skewed_out[-2000:]}"
    assert _attempts(task.id) == [AttemptOutcome.SUCCEEDED]


@postgres_only
@needs_faketime
@pytest.mark.parametrize("offset", ["+30s", "-30s"])
def test_a_worker_with_a_skewed_clock_keeps_its_own_task(tmp_path: Path, offset: str) -> None:
    """Defect 5, the other way round: the skewed worker runs the task, a healthy one drains
    beside it (12 s: time for the healthy worker to start). A lease stamped with a clock 30 s
    slow (claim and renewals) is expired to everyone else from the start; stamped by the
    database it is as long as anyone's."""
    log, started = tmp_path / "executions.log", tmp_path / "started.log"
    task = services.enqueue("test.sleep", {"seconds": 12, "log": str(log), "started": str(started)}, timeout_seconds=30)
    skewed = start_skewed_worker(offset, "--max-tasks", "1", ENGINE_LEASE_SECONDS="2")
    try:
        assert wait_until(started.exists, timeout=60), stop(skewed)
        healthy = start_worker("--drain", ENGINE_LEASE_SECONDS="2")
        try:
            finished = wait_until(lambda: Task.objects.get(id=task.id).status == TaskStatus.SUCCEEDED, timeout=60)
            assert wait_until(lambda: healthy.poll() is not None, timeout=30)
        finally:
            healthy_out = stop(healthy)
    finally:
        skewed_out = stop(skewed)
    assert finished, f"skewed:\n{skewed_out[-2000:]}\nhealthy:\n{healthy_out[-2000:]}"
    assert executions(log)[task.id] == 1, f"ran twice: {_attempts(task.id)}\nhealthy:\n{healthy_out[-2000:]}"
    assert _attempts(task.id) == [AttemptOutcome.SUCCEEDED]
