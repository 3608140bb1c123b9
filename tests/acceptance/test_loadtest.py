"""The load test (the loadtest app): what its fault plan expects, its verdict, and real runs of
`manage.py loadtest` in a subprocess. Its parts (guards, sinks, driver, journal) are in
tests/acceptance/test_loadtest_parts.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from loadtest.chaos import faketime_library
from loadtest.expectations import TaskFacts, count_lost, task_dies
from loadtest.faults import FaultPlan
from loadtest.options import WORKER_TICK_SECONDS, LoadTestOptions
from loadtest.report import LoadTestReport
from loadtest.verdict import verdict
from orders.models import ProjectStatus
from tests.conftest import ROOT, database_url_of_test_db, postgres_only

SHORT = TaskFacts(id=7, project_id="p", max_attempts=3, timeout_seconds=30)


# --- What the plan dooms -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan", "task", "lost", "dies"),
    [
        (FaultPlan(), SHORT, set(), False),
        (FaultPlan(failure_rate=1.0, permanent_share=1.0), SHORT, set(), True),
        # Retryable faults spare the last attempt: the task survives them...
        (FaultPlan(failure_rate=1.0, permanent_share=0.0), SHORT, set(), False),
        # ...unless that last attempt is lost too (a database restart under it): retries exhausted.
        (FaultPlan(failure_rate=1.0, permanent_share=0.0), SHORT, {3}, True),
        (FaultPlan(kill_rate=1.0), SHORT, {3}, True),
        (FaultPlan(), SHORT, {1}, False),
        (FaultPlan(hang_rate=1.0), SHORT, {3}, True),
        # A hang on a step longer than the plan's cap is spared, so the attempt simply succeeds.
        (FaultPlan(hang_rate=1.0), replace(SHORT, timeout_seconds=170), {2, 3}, False),
    ],
)
def test_the_plan_alone_says_which_tasks_die(plan: FaultPlan, task: TaskFacts, lost: set[int], dies: bool) -> None:
    assert task_dies(plan, task, lost) is dies


def test_a_permanent_fault_on_a_middle_attempt_dooms_the_task() -> None:
    plan = FaultPlan(seed=5, failure_rate=0.5, permanent_share=0.5)
    task = next(
        TaskFacts(id=i, project_id=i, max_attempts=3, timeout_seconds=30)
        for i in range(10_000)
        if plan.decide(task_id=i, attempt=1, max_attempts=3) == "retryable"
        and plan.decide(task_id=i, attempt=2, max_attempts=3) == "permanent"
    )
    assert task_dies(plan, task)
    assert not task_dies(plan, task, lost_attempts={2}), "attempt 2 lost otherwise: attempt 3 is spared"


# --- The verdict ---------------------------------------------------------------------------------


def test_a_clean_report_passes() -> None:
    assert verdict(LoadTestReport(orders=10, delivered=10, max_recovery_s=6.0, recovery_bound_s=35.0)) == []


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("not_terminal", 2, "not terminal"),
        ("lost", 1, "lost"),
        ("double_delivered", 1, "delivered twice"),
        ("duplicate_side_effects", 3, "happened twice"),
        ("missing_side_effects", 1, "lack an email"),
        ("payments_undelivered", 1, "payment never got through"),
        ("faults_not_applied", 1, "although the plan faulted them"),
        ("unrecovered_kills", 1, "never ran again"),
        ("attempts_lost_unplanned", 2, "the plan did not inject"),
        ("max_recovery_s", 36.5, "exceeds the bound of 35 s"),
        ("stale_applied", 1, "from a superseded attempt or generation applied"),
        ("plain_lost", 1, "plain task(s) did not succeed"),
    ],
)
def test_each_broken_promise_fails_the_run(field: str, value: Any, says: str) -> None:
    report = LoadTestReport(orders=10, delivered=10, recovery_bound_s=35.0)
    setattr(report, field, value)
    problems = verdict(report)
    assert len(problems) == 1 and says in problems[0], problems


@pytest.mark.parametrize("chaos", [True, False], ids=["chaos", "classic"])
def test_work_for_a_failed_run_fails_every_run(chaos: bool) -> None:
    problems = verdict(LoadTestReport(orders=10, delivered=10, work_for_failed_runs=2, chaos=chaos))
    assert len(problems) == 1 and "2 attempt(s) started for runs already failed or cancelled" in problems[0]
    assert verdict(LoadTestReport(orders=10, delivered=10, work_for_failed_runs=0, chaos=chaos)) == []


def test_a_backlog_that_never_moved_fails_the_run_but_one_still_draining_does_not() -> None:
    stalled = LoadTestReport(orders=1, delivered=1, backlog_left=20_000)
    assert any("the backlog stalled" in p for p in verdict(stalled))
    assert verdict(LoadTestReport(orders=1, delivered=1, backlog_left=19_000, backlog_done=1_000)) == []


def test_an_order_the_operator_cancelled_last_is_finished_and_any_other_cancelled_one_is_lost() -> None:
    statuses = {
        "cancelled-by-operator": ProjectStatus.CANCELLED,
        "cancelled-then-replayed": ProjectStatus.CANCELLED,  # replayed after the cancel: must finish
        "delivered": ProjectStatus.DELIVERED,
        "failed": ProjectStatus.FAILED,
        "never-started": ProjectStatus.DELIVERED,
    }
    runs = dict.fromkeys(statuses, 1) | {"never-started": 0}
    lost = count_lost(statuses, runs, cancelled_by_operator={"cancelled-by-operator"})
    assert lost == 2, "the replayed order that ended cancelled, and the order without a run"


def test_an_attempt_the_agents_server_ran_is_not_faulted_by_the_plan() -> None:
    doomed = FaultPlan(failure_rate=1.0, permanent_share=1.0)
    assert task_dies(doomed, SHORT)
    assert not task_dies(doomed, SHORT, clean_attempts={1}), "the server runs the action clean: it succeeds"
    assert task_dies(doomed, SHORT, lost_attempts={1}, clean_attempts={1}), "lost first, then the plan's attempt 2"


def test_attempts_lost_under_a_database_restart_are_expected() -> None:
    report = LoadTestReport(orders=10, delivered=10, attempts_lost_unplanned=3, db_restart={"returncode": 0})
    assert verdict(report) == []


def test_the_recovery_bound_is_the_lease_plus_one_worker_tick() -> None:
    assert LoadTestOptions(lease_seconds=5).recovery_bound_s == 5 + WORKER_TICK_SECONDS


# --- Real runs (subprocesses against the test database) ---------------------------------------------


def run_loadtest_command(*args: str, timeout: float = 600) -> tuple[int, dict[str, Any] | None, str]:
    env = {**os.environ, "DATABASE_URL": database_url_of_test_db(), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "loadtest", "--json", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return done.returncode, json.loads(lines[-1]) if lines else None, done.stderr[-3000:]


NO_FAULTS = ("--failure-rate", "0", "--kill-rate", "0", "--duplicate-rate", "0", "--hang-rate", "0")


@pytest.mark.slow
@postgres_only
@pytest.mark.django_db(transaction=True)
def test_ci_sized_run_loses_nothing_and_duplicates_nothing() -> None:
    code, report, stderr = run_loadtest_command(
        "--orders", "100", "--workers", "2", "--failure-rate", "0.2", "--kill-rate", "0.05",
        "--duplicate-rate", "0.2", "--seed", "1", timeout=900,
    )  # fmt: skip
    assert report is not None, stderr
    assert (report["lost"], report["double_delivered"], report["duplicate_side_effects"]) == (0, 0, 0), report
    assert report["not_terminal"] == 0 and report["delivered"] + report["failed_permanent"] == 100, report
    assert report["failed_permanent"] == report["expected_failed_permanent"], report
    assert report["kills"] > 0 and report["stale_reports_sent"] > 0 and report["duplicate_payments_sent"] > 0
    assert report["emails_sent"]["email:site_live"] == report["delivered"], report
    assert code == 0, (report["failures"], stderr)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_one_worker_is_killed_and_restarted_while_the_driver_goes_on() -> None:
    code, report, stderr = run_loadtest_command(
        "--orders",
        "4",
        "--workers",
        "1",
        *NO_FAULTS,
        "--kill-rate",
        "0.4",
        "--db-drop-rate",
        "0",
        "--seed",
        "2",
        "--lease",
        "2",
    )
    assert report is not None, stderr
    assert report["kills"] >= 1 and report["worker_starts"] == 1 + report["kills"], report
    assert report["max_recovery_s"] is not None and report["unrecovered_kills"] == 0, report
    assert code == 0, (report["failures"], stderr)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_driver_survives_its_connection_being_dropped_again_and_again() -> None:
    code, report, stderr = run_loadtest_command(
        "--orders", "6", "--workers", "2", *NO_FAULTS, "--db-drop-rate", "0.3", "--lease", "2"
    )  # fmt: skip
    assert report is not None, stderr
    assert report["driver_connections_dropped"] > 0 and report["driver_db_reconnects"] > 0, report
    assert "Traceback" not in stderr
    assert code == 0, (report["failures"], stderr)


CHAOS_FIGURES = ("lost", "not_terminal", "double_delivered", "duplicate_side_effects", "work_for_failed_runs")


@pytest.mark.slow
@postgres_only
@pytest.mark.skipif(
    faketime_library() is None, reason="--chaos skews clocks with libfaketime: apt-get install -y faketime"
)
@pytest.mark.django_db(transaction=True)
def test_a_small_chaos_run_loses_nothing_repeats_nothing_and_applies_nothing_stale() -> None:
    code, report, stderr = run_loadtest_command(
        "--orders", "3", "--workers", "3", "--chaos", "--seed", "3", "--timeout", "150", timeout=280
    )  # fmt: skip
    assert report is not None, stderr
    # The chaos ran: clocks both ways, the pairs and the 20,000-task backlog queued.
    assert min(report["clock_offsets"]) < 0 < max(report["clock_offsets"]), report["clock_offsets"]
    assert report["plain_tasks"] == 20_000 + 2 * 10, report
    figures = {name: report[name] for name in (*CHAOS_FIGURES, "stale_applied", "plain_lost")}
    assert figures == dict.fromkeys(figures, 0), (figures, report["failures"])
    assert report["delivered"] + report["failed_permanent"] + report["cancelled_by_operator"] == 3, report
    assert code == 0, (report["failures"], stderr)


# Terminates every other connection to the test database: what a restart does to its clients,
# without disturbing anyone else's database on this machine.
DISCONNECT_EVERYONE = (
    "import os, psycopg; c = psycopg.connect(os.environ['DATABASE_URL'], autocommit=True); "
    "c.execute('SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()')"
)


@pytest.mark.slow
@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_database_restart_mid_run_is_run_once_at_its_moment_and_loses_nothing() -> None:
    command = f"{sys.executable} -c {json.dumps(DISCONNECT_EVERYONE)}"
    code, report, stderr = run_loadtest_command(
        "--orders", "10", "--workers", "2", *NO_FAULTS, "--db-drop-rate", "0", "--pay-rate", "2",
        "--restart-db-at", "0.5", "--restart-db-command", command,
    )  # fmt: skip
    connection.close()  # this test's own connection was cut too
    assert report is not None, stderr
    restart = report["db_restart"]
    assert restart is not None and restart["returncode"] == 0, restart
    assert restart["terminal_orders"] >= 5, "run once half the orders were finished"
    assert report["worker_crashes"] == 0, "the workers reconnected by themselves"
    assert report["driver_db_reconnects"] >= 1, "the driver lost its connection too"
    assert (report["lost"], report["not_terminal"]) == (0, 0), report
    assert code == 0, (report["failures"], stderr)


@pytest.mark.django_db(transaction=True)
def test_a_restart_is_refused_on_sqlite_with_a_clear_message() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("the refusal is SQLite's; on PostgreSQL the restart runs (test above)")
    code, report, stderr = run_loadtest_command("--orders", "1", "--restart-db-at", "0.5", timeout=120)
    assert (code, report) == (1, None)
    assert "CommandError: --restart-db-at restarts a PostgreSQL server" in stderr and "Traceback" not in stderr


def _children_of(pid: int) -> set[int]:
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:  # the field after the state is the parent's pid
            children.add(int(stat.parent.name))
    return children


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process table from /proc")
@pytest.mark.django_db(transaction=True)
def test_sigterm_to_the_driver_stops_its_workers_and_exits_with_a_clear_message() -> None:
    env = {**os.environ, "DATABASE_URL": database_url_of_test_db(), "PYTHONPATH": str(ROOT)}
    driver = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "loadtest", "--orders", "200", "--workers", "2", *NO_FAULTS,
         "--pay-rate", "2", "--json"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        workers: set[int] = set()
        while len(workers) < 2 and time.monotonic() < deadline and driver.poll() is None:
            time.sleep(0.2)
            workers = _children_of(driver.pid)
        assert len(workers) >= 2, driver.communicate(timeout=5)
        driver.send_signal(signal.SIGTERM)
        _, stderr = driver.communicate(timeout=90)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 130, stderr[-2000:]
    assert "interrupted: the workers and the agents' server were stopped" in stderr
    assert not [pid for pid in workers if _alive(pid)]
