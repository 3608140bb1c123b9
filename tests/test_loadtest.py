"""The load test (orders/loadtest.py): its expectations from the fault plan, its verdict, its
guards, its sinks, its reconnects, and real runs of `manage.py loadtest` in a subprocess."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from django import db
from django.core.files.base import ContentFile
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.console import EmailBackend as ConsoleBackend
from django.db import connection

from orchestration.faults import FaultPlan, drop_connection
from orders import loadtest
from orders.loadtest import (
    EMAIL_DOMAIN,
    JournalingStorage,
    LoadTestAborted,
    LoadTestOptions,
    LoadTestRefused,
    LoadTestReport,
    TaskFacts,
    check_target,
    console_messages,
    published_slugs,
    task_dies,
    verdict,
)
from orders.services import project_create
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
    ],
)
def test_each_broken_promise_fails_the_run(field: str, value: Any, says: str) -> None:
    report = LoadTestReport(orders=10, delivered=10, recovery_bound_s=35.0)
    setattr(report, field, value)
    problems = verdict(report)
    assert len(problems) == 1 and says in problems[0], problems


def test_attempts_lost_under_a_database_restart_are_expected() -> None:
    report = LoadTestReport(orders=10, delivered=10, attempts_lost_unplanned=3, db_restart={"returncode": 0})
    assert verdict(report) == []


def test_the_recovery_bound_is_the_lease_plus_one_worker_tick() -> None:
    assert LoadTestOptions(lease_seconds=5).recovery_bound_s == 5 + loadtest.WORKER_TICK_SECONDS


# --- Guards --------------------------------------------------------------------------------------


def _real_order() -> None:
    project_create(business_name="Real customer", contact_email="someone@customer.example")


@pytest.mark.django_db
def test_a_database_with_real_orders_is_refused_unless_allowed() -> None:
    project_create(business_name="Earlier load test", contact_email=f"order-x-1@{EMAIL_DOMAIN}")
    assert check_target(LoadTestOptions()) is None, "its own earlier projects are no reason to refuse"
    _real_order()
    with pytest.raises(LoadTestRefused, match=r"1 project.*--allow-existing-data"):
        check_target(LoadTestOptions())
    assert check_target(LoadTestOptions(allow_existing_data=True)) is None


@pytest.mark.django_db
def test_a_restart_command_without_a_moment_is_refused() -> None:
    with pytest.raises(LoadTestRefused, match="needs --restart-db-at"):
        check_target(LoadTestOptions(restart_db_command="true"))


@pytest.mark.django_db
def test_restarting_the_database_is_refused_on_sqlite_and_planned_on_postgres() -> None:
    options = LoadTestOptions(restart_db_at=0.5, restart_db_command="pg_ctlcluster 15 main restart")
    if connection.vendor == "sqlite":
        with pytest.raises(LoadTestRefused, match="SQLite"):
            check_target(options)
    else:
        assert check_target(options) == ["pg_ctlcluster", "15", "main", "restart"]


def test_the_default_restart_command_names_this_machines_cluster() -> None:
    versions = sorted(p.name for p in Path("/etc/postgresql").glob("*")) if Path("/etc/postgresql").is_dir() else []
    if len(versions) != 1:
        with pytest.raises(LoadTestRefused, match="--restart-db-command"):
            loadtest.restart_command(None)
    else:
        assert loadtest.restart_command(None) == [
            "pg_ctlcluster",
            "--skip-systemctl-redirect",
            versions[0],
            "main",
            "restart",
        ]


# --- Sinks ---------------------------------------------------------------------------------------


def test_emails_are_read_back_from_the_console_backends_output(tmp_path: Path) -> None:
    stream = io.StringIO()
    stream.write("run_worker: 1 process(es); SIGTERM stops them gracefully\n")  # the worker's banner
    subjects = ["Paiement reçu : le site de Cabinet Durand & Associés 1-2 est en préparation", "The site is live"]
    messages = []
    for subject in subjects:
        message = EmailMultiAlternatives(subject, "body", "from@studio.example", [f"a@{EMAIL_DOMAIN}"])
        message.attach_alternative("<p>body</p>", "text/html")
        messages.append(message)
    ConsoleBackend(stream=stream).send_messages([*messages, messages[0]])
    path = tmp_path / "worker.out"
    path.write_text(stream.getvalue())

    found = list(console_messages([path]))

    to = f"a@{EMAIL_DOMAIN}"
    assert found == [(to, subjects[0]), (to, subjects[1]), (to, subjects[0])], "the duplicate is there to be counted"


def test_the_storage_journal_counts_each_publish(tmp_path: Path) -> None:
    storage = JournalingStorage(location=tmp_path)
    for _ in range(2):
        if storage.exists("sites/a/.manifest.json"):
            storage.delete("sites/a/.manifest.json")
        storage.save("sites/a/.manifest.json", ContentFile(b"{}"))
    storage.save("sites/a/index.html", ContentFile(b"<html>"))
    storage.save("sites/b/.manifest.json", ContentFile(b"{}"))
    assert published_slugs(tmp_path) == {"a": 2, "b": 1}


# --- Reconnecting ----------------------------------------------------------------------------------


@pytest.fixture
def driver(tmp_path: Path) -> loadtest._Driver:
    return loadtest._Driver(LoadTestOptions(orders=1), tmp_path, lambda done, total: None)


@pytest.mark.django_db(transaction=True)
def test_the_driver_outlives_its_dropped_connection(driver: loadtest._Driver) -> None:
    assert driver.db(lambda: loadtest.Project.objects.count(), what="connecting") == 0
    drop_connection()
    assert driver.db(lambda: loadtest.Project.objects.count(), what="counting") == 0
    assert driver.report.driver_db_reconnects == 1


@pytest.mark.django_db
def test_the_driver_gives_up_on_a_database_that_stays_away(
    driver: loadtest._Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loadtest, "DB_RETRY_SECONDS", 0.5)

    def unreachable() -> None:
        raise db.OperationalError("connection refused")

    with pytest.raises(LoadTestAborted, match=r"unreachable for 0 s while polling: connection refused"):
        driver.db(unreachable, what="polling")
    assert driver.report.driver_db_reconnects >= 2


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
