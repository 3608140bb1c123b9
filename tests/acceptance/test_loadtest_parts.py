"""The load test's parts: its guards, its sinks, its driver's reconnects, its journal and its
chaos presets, each against a real database where it reads one."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import types
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from django import db
from django.core.files.base import ContentFile
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.console import EmailBackend as ConsoleBackend
from django.db import connection

from loadtest import chaos as loadtest_chaos
from loadtest import driver as loadtest_driver
from loadtest import journal as loadtest_journal
from loadtest.callbacks import DUPLICATE_PREFIX, STALE_PREFIX, stale_applied
from loadtest.chaos import SinkLine, faketime_library
from loadtest.driver import _Driver
from loadtest.faults import FaultPlan, drop_connection
from loadtest.guards import check_target, restart_command
from loadtest.options import EMAIL_DOMAIN, LoadTestAborted, LoadTestOptions, LoadTestRefused
from loadtest.sinks import SINK_ACTION, JournalingStorage, console_messages, published_slugs
from loadtest.verdict import Kill
from orders.models import Project, ProjectStatus
from orders.services import project_create

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
            restart_command(None)
    else:
        assert restart_command(None) == [
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


def test_emails_sent_from_several_threads_at_once_are_each_read_back(tmp_path: Path) -> None:
    """The console backend writes a message, its separator and a newline as three writes, locked per
    backend instance only: two threads of the agents' server interleave them. Seen in a 1000-order
    chaos run: 7 delivered orders counted without an email that the sink held (a separator glued to
    the next message, or missing between two), so the verdict said "missing side effects"."""

    class Recorder(io.StringIO):
        def __init__(self) -> None:
            super().__init__()
            self.writes: list[str] = []

        def write(self, text: str) -> int:
            self.writes.append(text)
            return len(text)

    to = f"a@{EMAIL_DOMAIN}"
    subjects = ["Payment received: the Leeds Rapid Plumbing 1-2 website is being built", "The site is live", "Third"]
    streams = []
    for subject in subjects:
        message = EmailMultiAlternatives(subject, "body", "from@studio.example", [to])
        message.attach_alternative("<p>body</p>", "text/html")
        stream = Recorder()
        ConsoleBackend(stream=stream).send_messages([message])
        streams.append(stream.writes)
    (a, b, c) = streams
    assert len(a) == 3, "message, separator, newline: the interleaving below is the backend's own"
    # Thread B's message between A's separator and its newline (the separator glued to B's headers),
    # then C's message right after B's (no separator between them).
    text = "banner\n" + a[0] + a[1] + b[0] + a[2] + c[0] + b[1] + b[2] + c[1] + c[2]
    path = tmp_path / "server.out"
    path.write_text(text)

    assert list(console_messages([path])) == [(to, s) for s in subjects]


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
def driver(tmp_path: Path) -> _Driver:
    return _Driver(LoadTestOptions(orders=1), tmp_path, lambda done, total: None)


@pytest.mark.django_db(transaction=True)
def test_the_driver_outlives_its_dropped_connection(driver: _Driver) -> None:
    assert driver.db(lambda: Project.objects.count(), what="connecting") == 0
    drop_connection()
    assert driver.db(lambda: Project.objects.count(), what="counting") == 0
    assert driver.report.driver_db_reconnects == 1


@pytest.mark.django_db
def test_the_driver_gives_up_on_a_database_that_stays_away(driver: _Driver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loadtest_driver, "DB_RETRY_SECONDS", 0.5)

    def unreachable() -> None:
        raise db.OperationalError("connection refused")

    with pytest.raises(LoadTestAborted, match=r"unreachable for 0 s while polling: connection refused"):
        driver.db(unreachable, what="polling")
    assert driver.report.driver_db_reconnects >= 2


# --- Kills: what a SIGKILLed worker held, and what became of it -------------------------------------
# Each scenario is one found in the 1000-order chaos run of 2026-12-02 (seed 7), rebuilt from rows.


def _plain_task(max_attempts: int, status: str = "queued") -> Any:
    from orchestration.models import Task
    from orchestration.retry import RetryPolicy
    from orchestration.services import enqueue

    task = enqueue("engine.echo", {}, retry=RetryPolicy(max_attempts=max_attempts), timeout_seconds=30)
    Task.objects.filter(id=task.id).update(status=status, attempt=max_attempts if status == "dead" else 1)
    return task


def _attempt(task: Any, attempt: int, worker: str, outcome: str, started: Any, finished: Any = None) -> Any:
    from orchestration.models import AgentRun

    return AgentRun.objects.create(
        task=task,
        action=task.action,
        attempt=attempt,
        worker=worker,
        outcome=outcome,
        started_at=started,
        finished_at=finished,
    )


def _seconds(n: float) -> Any:
    from datetime import timedelta

    return timedelta(seconds=n)


@pytest.mark.django_db
@pytest.mark.parametrize("permanent", [True, False])
def test_an_attempt_claimed_beside_the_one_a_worker_was_killed_for_is_lost_to_that_kill(
    driver: _Driver, permanent: bool
) -> None:
    """Task 23212 (build, 2 attempts... here) was claimed in one batch with an attempt the plan kills:
    the worker died before reaching it, lease recovery timed it out, attempt 2 delivered the order.
    Its own planned fault (permanent) never ran, so the order is not doomed; nor is the attempt
    "lost to a fault the plan did not inject" (task 22835): the plan's kill took it."""
    from django.utils import timezone

    from orchestration.models import AttemptOutcome

    # Every attempt but the last fails, for good when `permanent`; with no fault, none does.
    driver.plan = FaultPlan(failure_rate=1.0, permanent_share=1.0) if permanent else FaultPlan()
    killed_at = timezone.now()
    task = _plain_task(max_attempts=2)
    _attempt(task, 1, "vm:1", AttemptOutcome.TIMED_OUT, killed_at - _seconds(1), killed_at + _seconds(8))
    _attempt(task, 2, "vm:2", AttemptOutcome.SUCCEEDED, killed_at + _seconds(9), killed_at + _seconds(10))
    driver.kills = [Kill(at=killed_at, worker="vm:1", by_driver=True)]

    driver._judge_faults(
        [(task.id, "p", "build", 2, 30.0)],
        {(task.id, 1): AttemptOutcome.TIMED_OUT, (task.id, 2): AttemptOutcome.SUCCEEDED},
        {"p": {"status": ProjectStatus.DELIVERED}},
        set(),
    )

    assert driver.report.failures == []
    assert driver.report.expected_failed_permanent == 0
    assert (driver.report.attempts_lost_unplanned, driver.report.attempts_lost_to_kills) == (0, 1)


@pytest.mark.django_db
def test_an_attempt_timed_out_with_no_kill_is_still_lost_to_something_unplanned(driver: _Driver) -> None:
    from django.utils import timezone

    from orchestration.models import AttemptOutcome

    driver.plan = FaultPlan()
    now = timezone.now()
    task = _plain_task(max_attempts=2)
    _attempt(task, 1, "vm:1", AttemptOutcome.TIMED_OUT, now, now + _seconds(8))
    driver.kills = [Kill(at=now + _seconds(20), worker="vm:1", by_driver=True)]  # after it ended

    driver._judge_faults(
        [(task.id, "p", "build", 2, 30.0)], {(task.id, 1): AttemptOutcome.TIMED_OUT}, {"p": {"status": "x"}}, set()
    )

    assert (driver.report.attempts_lost_unplanned, driver.report.attempts_lost_to_kills) == (1, 0)


@pytest.mark.django_db
def test_a_held_task_whose_recovery_spent_its_last_attempt_is_dead_not_stranded(driver: _Driver) -> None:
    """Refunds 20862 and 21663: their 8th attempt was claimed beside a killed one; the lease recovery
    timed it out and, its attempts spent, killed the task. It never ran again, rightly."""
    from django.utils import timezone

    from orchestration.models import AttemptOutcome

    killed_at = timezone.now()
    dead = _plain_task(max_attempts=8, status="dead")
    _attempt(dead, 8, "vm:1", AttemptOutcome.TIMED_OUT, killed_at - _seconds(1), killed_at + _seconds(7))
    stranded = _plain_task(max_attempts=8, status="queued")  # recovered, queued, and never claimed again
    _attempt(stranded, 1, "vm:1", AttemptOutcome.TIMED_OUT, killed_at - _seconds(1), killed_at + _seconds(7))
    driver.kills = [Kill(at=killed_at, worker="vm:1", by_driver=True)]

    driver._judge_recovery([])

    assert driver.report.unrecovered_kills == 1, "the queued one is stranded; the dead one is not"


@pytest.mark.django_db
def test_a_recovered_backlog_task_queued_behind_the_rest_of_the_backlog_is_not_stranded(driver: _Driver) -> None:
    """The PostgreSQL pass of CI, 2026-12-03: 9 backlog tasks a killed worker held were recovered
    and queued again behind thousands; the run ended (the backlog is not waited for) before a worker
    reached them, and the verdict called them never run again. A pair task, which the run does wait
    for, is still stranded when queued and never claimed."""
    from django.utils import timezone

    from orchestration.models import AttemptOutcome

    killed_at = timezone.now()
    backlog = _plain_task(max_attempts=5, status="queued")
    pair = _plain_task(max_attempts=5, status="queued")
    for task in (backlog, pair):
        _attempt(task, 1, "vm:1", AttemptOutcome.TIMED_OUT, killed_at - _seconds(1), killed_at + _seconds(7))
    driver.chaos = loadtest_chaos.Chaos(replace_options(driver, backlog=1))
    driver.chaos.backlog_ids = [backlog.id]
    driver.kills = [Kill(at=killed_at, worker="vm:1", by_driver=True)]

    driver._judge_recovery([])

    assert driver.report.unrecovered_kills == 1, "the pair task is stranded; the backlog one waits its turn"


@pytest.mark.django_db
def test_the_run_waits_for_the_recovery_of_what_a_killed_worker_held(driver: _Driver) -> None:
    """The driver ended its run while a killed worker's attempt was still open (its lease not yet
    lapsed): the verdict then judged a recovery that had had no time to happen."""
    from django.utils import timezone

    from orchestration.models import AgentRun, AttemptOutcome

    killed_at = timezone.now()
    task = _plain_task(max_attempts=5, status="running")
    held = _attempt(task, 1, "vm:1", AttemptOutcome.RUNNING, killed_at - _seconds(1))
    driver.kills = [Kill(at=killed_at, worker="vm:1", by_driver=True)]
    assert driver._recoveries_pending(), "its lease has not lapsed yet"

    AgentRun.objects.filter(id=held.id).update(outcome=AttemptOutcome.TIMED_OUT, finished_at=killed_at + _seconds(7))
    assert not driver._recoveries_pending(), "recovered"


@pytest.mark.django_db
def test_the_replay_of_an_attempt_an_operator_cancelled_after_the_kill_is_not_a_recovery(
    driver: _Driver,
) -> None:
    """Task 24480: its worker was SIGKILLed at its planned kill, the operator cancelled the run 4 s
    later (closing the attempt) and replayed it; the replay waited 38 s in the queue. The verdict
    took kill -> replay's claim (44.82 s) for a recovery: the lease recovery never had to happen."""
    from django.utils import timezone

    from orchestration.models import AttemptOutcome

    killed_at = timezone.now()
    task = _plain_task(max_attempts=5, status="succeeded")
    _attempt(task, 1, "vm:1", AttemptOutcome.CANCELLED, killed_at - _seconds(1), killed_at + _seconds(4))
    _attempt(task, 2, "vm:2", AttemptOutcome.SUCCEEDED, killed_at + _seconds(44.8), killed_at + _seconds(45))
    recovered = _plain_task(max_attempts=5, status="succeeded")
    _attempt(recovered, 1, "vm:1", AttemptOutcome.TIMED_OUT, killed_at - _seconds(1), killed_at + _seconds(6))
    _attempt(recovered, 2, "vm:2", AttemptOutcome.SUCCEEDED, killed_at + _seconds(7), killed_at + _seconds(8))
    driver.kills = [Kill(at=killed_at, worker="vm:1", by_driver=True)]

    driver._judge_recovery([])

    assert driver.report.max_recovery_s == 7.0
    assert driver.report.max_requeue_s == 6.0
    assert driver.report.unrecovered_kills == 0


# --- The grown fault model (loadtest/chaos.py, loadtest/journal.py) ------------------------


def test_skewed_clocks_are_seeded_go_both_ways_and_stay_within_the_bound() -> None:
    offsets = [loadtest_chaos.skew_for(7, slot, generation, 60) for slot in range(4) for generation in range(6)]
    assert all(15 <= abs(o) <= 60 for o in offsets), offsets
    assert min(offsets) < 0 < max(offsets), "ahead on even slots, behind on odd ones"
    assert offsets == [loadtest_chaos.skew_for(7, s, g, 60) for s in range(4) for g in range(6)], "seeded"


@pytest.mark.slow
@pytest.mark.skipif(faketime_library() is None, reason="libfaketime is not installed (apt-get install -y faketime)")
def test_a_skewed_worker_process_reads_a_clock_off_by_its_offset_and_can_still_sleep(
    driver: _Driver,
) -> None:
    chaos = loadtest_chaos.Chaos(replace_options(driver, clock_skew_s=60.0))
    env = chaos.worker_env(1, 0, dict(os.environ))
    expected = loadtest_chaos.skew_for(driver.options.seed, 1, 0, 60.0)
    # The heartbeat thread sleeps: under libfaketime's FAKETIME_DONT_FAKE_MONOTONIC every sleep fails.
    script = "import threading, time; t = threading.Thread(target=time.sleep, args=(0.05,)); t.start(); t.join(); "
    script += "time.sleep(0.05); print(time.time())"
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) - time.time() == pytest.approx(expected, abs=3), (expected, done.stdout)


def replace_options(driver: _Driver, **changes: Any) -> _Driver:
    driver.options = replace(driver.options, **changes)
    return driver


def test_an_action_run_twice_is_doubled_unless_its_first_process_was_killed_before_the_rerun(tmp_path: Path) -> None:
    sink = tmp_path / "sink.jsonl"
    # pid 11's clock is 30 s ahead: its stamps are corrected before they are compared.
    lines = [
        {"task": 1, "attempt": 1, "pid": 11, "t": 1030.0},
        {"task": 1, "attempt": 2, "pid": 12, "t": 1010.0},  # ran again while 11 lived: the engine's doing
        {"task": 2, "attempt": 1, "pid": 13, "t": 1000.0},
        {"task": 2, "attempt": 2, "pid": 12, "t": 1020.0},  # after 13 was killed: it may never have reported
        {"task": 3, "attempt": 1, "pid": 12, "t": 1000.0},
    ]
    sink.write_text("".join(json.dumps(line) + "\n" for line in lines))
    runs = loadtest_chaos.read_sink(sink, offsets={11: 30})
    assert runs[1] == [SinkLine(1, 1, 11, 1000.0), SinkLine(1, 2, 12, 1010.0)]
    assert loadtest_chaos.doubled_executions(runs, killed_at={13: 1015.0}) == [1]
    assert loadtest_chaos.doubled_executions(runs, killed_at={13: 1030.0}) == [1, 2], "rerun before the kill"


@pytest.mark.django_db
def test_the_sink_action_records_each_run_before_it_takes_its_time(tmp_path: Path) -> None:
    from orchestration.registry import TaskContext, get_action

    sink = tmp_path / "sink.jsonl"
    context = TaskContext(
        task_id=5, action=SINK_ACTION, attempt=2, input={"sink": str(sink), "seconds": 0}, inputs={},
        cursor=None, idempotency_key="task:5", deadline=time.monotonic() + 10,
    )  # fmt: skip
    assert get_action(SINK_ACTION)(context) == {"task": 5, "attempt": 2, "key": "task:5"}
    (line,) = [json.loads(raw) for raw in sink.read_text().splitlines()]
    assert (line["task"], line["attempt"], line["pid"]) == (5, 2, os.getpid())


def _inbox(external_id: str, task_id: int, *, applied: bool) -> None:
    from django.utils import timezone

    from gateway.models import EventSource, EventStatus, WebhookEvent

    WebhookEvent.objects.create(
        source=EventSource.AGENT,
        external_id=external_id,
        type="task_completed",
        payload={"type": "task_completed", "taskId": task_id, "attempt": 1},
        status=EventStatus.PROCESSED if applied else EventStatus.IGNORED,
        received_at=timezone.now(),
    )


@pytest.mark.django_db
def test_stale_applied_counts_this_runs_reports_the_inbox_applied_though_they_were_stale_when_sent() -> None:
    _inbox(f"{STALE_PREFIX}late", 1, applied=True)  # counted
    _inbox(f"{STALE_PREFIX}refused", 1, applied=False)
    _inbox(f"{STALE_PREFIX}earlier-run", 99, applied=True)  # another run's task
    _inbox("report_a", 2, applied=True)
    _inbox(f"{DUPLICATE_PREFIX}a", 2, applied=True)  # both copies applied: counted once
    _inbox("report_b", 3, applied=False)
    _inbox(f"{DUPLICATE_PREFIX}b", 3, applied=True)  # the copy arrived first: legitimate
    _inbox("report_c", 4, applied=True)  # delivered after its run's generation moved on: counted
    proxy = types.SimpleNamespace(
        superseded=["report_c"], duplicates=[("report_a", f"{DUPLICATE_PREFIX}a"), ("report_b", f"{DUPLICATE_PREFIX}b")]
    )
    assert stale_applied(proxy, {1, 2, 3, 4}) == 3
    assert stale_applied(None, {1, 2, 3, 4}) == 1


@pytest.mark.django_db(transaction=True)
def test_the_claim_journal_counts_attempts_opened_on_a_dead_run_but_not_after_its_replay() -> None:
    from django.utils import timezone

    from orchestration import services
    from orchestration.models import AgentRun, AttemptOutcome, WorkflowRun
    from tests.actions import FRAGILE

    def open_attempt(run: WorkflowRun, step: str, outcome: str = AttemptOutcome.RUNNING) -> None:
        task = run.tasks.get(step=step)  # what every claim inserts, whoever claims
        AgentRun.objects.create(
            task=task, run=run, action=task.action, attempt=1, outcome=outcome, started_at=timezone.now()
        )

    loadtest_journal.install()
    try:
        run = services.run_start(workflow=FRAGILE)
        open_attempt(run, "a")
        services.run_cancel(run=run, actor=services.Actor(label="test"))
        open_attempt(run, "b")  # work for a cancelled run
        open_attempt(run, "b", AttemptOutcome.STALE)  # a late report's row: no attempt at all
        services.run_replay(run=run, actor=services.Actor(label="test"))
        open_attempt(run, "b")  # the replay set it running first: legitimate
        rows = loadtest_journal.claims_for_ended_runs([run.id])
        assert [(r["run_status"], r["run_generation"]) for r in rows] == [("cancelled", 1)]
        assert loadtest_journal.claims_recorded() == 3
        assert loadtest_journal.claims_for_ended_runs([]) == []
    finally:
        loadtest_journal.uninstall()


@pytest.mark.django_db
def test_the_backlog_still_queued_is_dropped_after_the_run_and_an_earlier_runs_before_the_next(
    driver: _Driver,
) -> None:
    from orchestration import services
    from orchestration.models import Task, TaskStatus

    chaos = loadtest_chaos.Chaos(replace_options(driver, backlog=3))
    chaos._enqueue_backlog()
    done = Task.objects.get(id=chaos.backlog_ids[0])
    done.status = TaskStatus.SUCCEEDED
    done.save()
    other = services.enqueue("engine.echo", {})  # not the load test's
    assert chaos.drop_backlog() == 2
    assert set(Task.objects.values_list("id", flat=True)) == {done.id, other.id}
    leftover = services.enqueue(SINK_ACTION, {"sink": "/dev/null"})  # an earlier run's, never judged
    assert chaos.drop_backlog() == 0 and chaos.drop_backlog(everything=True) == 1
    assert not Task.objects.filter(id=leftover.id).exists()


@pytest.mark.django_db
def test_chaos_presets_fill_only_the_options_not_given(capsys: pytest.CaptureFixture[str]) -> None:
    from django.core.management import call_command

    call_command("loadtest", "--chaos", "--backlog", "50", "--no-http-async", "--dry-run", "--json")
    planned = json.loads(capsys.readouterr().out)
    assert planned["chaos"] == {
        "clock_skew_s": 60.0,
        "long_tasks": 10,
        "operator_rate": 0.2,
        "http_async": False,
        "backlog": 50,
    }
    assert planned["plan"]["db_drop_rate"] == 0.0 and planned["plan"]["spared_actions"] == [SINK_ACTION]
    call_command("loadtest", "--dry-run", "--json")
    plain = json.loads(capsys.readouterr().out)
    assert not any(plain["chaos"].values()) and plain["plan"]["db_drop_rate"] == LoadTestOptions().db_drop_rate
