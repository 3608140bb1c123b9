"""The load test: many paid orders through the real workflow, with faults, judged from the database.

The driver creates the orders, starts N worker processes (each its own
`manage.py run_worker`, whose engine injects faults from a deterministic plan:
orchestration/faults.py), then pays the orders over time through the real
payment webhook (Stripe-signed; some events twice, at once, or reordered) while
the workers already process them. Meanwhile it SIGKILLs the workers the plan
dooms (and starts them again), sends late, duplicate and reordered agent
callbacks through the signed callback route, cuts its own database connection,
and may restart the database server.

Its verdict reads the database and the real sinks, never counters of its own:
orders lost or delivered twice; side effects done twice, counted where they
land (the emails the workers' mail backend wrote, the site files their storage
wrote, the campaign completions accepted); permanent failures against what the
plan dooms; and the time from each SIGKILL to the killed task's next claim.

`--chaos` (orders/loadtest_chaos.py) grows the fault model beyond what the engine was built
around: skewed worker clocks, long tasks behind short ones, operator acts in flight, HTTP
dispatch with late and duplicated callbacks, a prefix-limited backlog; and the verdict counts
attempts opened for runs already over (orders/loadtest_journal.py) and stale reports applied.
"""

from __future__ import annotations

import base64
import contextlib
import email
import email.policy
import itertools
import json
import logging
import math
import os
import random
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import dj_database_url
import stripe
from django import db
from django.conf import settings
from django.core import mail
from django.core.files.storage import FileSystemStorage
from django.db import connection, connections
from django.db.models import Count, Q
from django.test import Client
from django.test.utils import override_settings
from standardwebhooks.webhooks import Webhook

from agents.mail import SUBJECTS
from agents.models import SideEffect
from metrics.models import ErrorGroup
from orchestration import clock, dispatch
from orchestration.conf import engine_settings
from orchestration.faults import FAULTS, HANG, KILL, PERMANENT, FaultPlan, drop_connection
from orchestration.models import AgentRun, AttemptOutcome, RunStatus, Task, TaskStatus, WorkflowRun
from orchestration.worker import WorkerOptions
from orders import loadtest_journal
from orders.demo_briefs import DEMO_BRIEFS
from orders.loadtest_actions import SINK_ACTION
from orders.loadtest_chaos import BACKLOG_LIMIT, STALE_PREFIX, Chaos, stale_applied
from orders.models import Project, ProjectStatus
from orders.services import ORDER_WORKFLOW_NAME, project_create

ROOT = Path(__file__).resolve().parent.parent
TERMINAL = (ProjectStatus.DELIVERED, ProjectStatus.FAILED, ProjectStatus.CANCELLED)
# Every order the load test creates has a contact address here: that is how the guard tells
# its own projects from real ones.
EMAIL_DOMAIN = "loadtest.example"
PAYMENT_WEBHOOK = "/api/payments/webhook"
CALLBACK_WEBHOOK = "/api/orchestration/webhooks"
# Senders' addresses (documentation ranges): Stripe delivers from a dozen published addresses and
# the agents from many function instances, so the per-client throttle sees several clients.
STRIPE_SENDERS = tuple(f"192.0.2.{n}" for n in range(1, 13))
AGENT_SENDERS = tuple(f"198.51.100.{n}" for n in range(1, 17))
# A worker recovers expired leases only when a tick starts, and a busy tick runs this long.
WORKER_TICK_SECONDS = WorkerOptions().tick_seconds
JOURNAL_NAME = "storage-journal.jsonl"
DB_RETRY_SECONDS = 120.0  # how long the driver keeps reconnecting before it gives up
HTTP_RETRY_SECONDS = 120.0  # how long it keeps redelivering a webhook answered 429 or 5xx
LOOP_SECONDS = 0.1
FAILED_OUTCOMES = (AttemptOutcome.RETRY, AttemptOutcome.FAILED, AttemptOutcome.TIMED_OUT)
PAYMENT_SCENARIOS = ("same_event_twice", "same_event_at_once", "completed_then_async", "async_then_unpaid_completed")
REPORT_TYPES = ("task_started", "task_progress", "task_completed", "task_failed")

logger = logging.getLogger("orders.loadtest")
T = TypeVar("T")


class LoadTestError(Exception):
    """Base of the load test's errors (do not raise directly)."""


class LoadTestRefused(LoadTestError):
    """The run would be unsafe or cannot work against this database; nothing was done."""


class LoadTestAborted(LoadTestError):
    """The run could not go on (the database stayed away); its workers were stopped."""


@dataclass(frozen=True)
class LoadTestOptions:
    orders: int = 100
    workers: int = 4
    failure_rate: float = 0.2
    kill_rate: float = 0.05
    duplicate_rate: float = 0.2
    hang_rate: float = 0.002
    db_drop_rate: float = 0.01
    seed: int = 1
    lease_seconds: float = 5.0
    timeout_seconds: float = 1800.0
    pay_rate: float = 20.0  # orders paid per second, while the workers already run
    restart_db_at: float | None = None  # restart the database once this share of orders is terminal
    restart_db_command: str | None = None  # instead of pg_ctlcluster ... restart
    allow_existing_data: bool = False
    keep_artifacts: bool = False
    # The grown fault model (orders/loadtest_chaos.py); `--chaos` turns all of it on.
    clock_skew_s: float = 0.0  # each worker's wall clock is off by up to this much (faketime), both ways
    long_tasks: int = 0  # pairs of plain tasks, a quick one then one outlasting the lease, in one claim
    operator_rate: float = 0.0  # share of orders an operator cancels, replays or retries in flight
    http_async: bool = False  # half the workers dispatch over HTTP to a real server that answers 202
    backlog: int = 0  # plain tasks of distinct project:<n> keys under the limit project:*=2

    def plan(self) -> FaultPlan:
        return FaultPlan(
            seed=self.seed,
            failure_rate=self.failure_rate,
            kill_rate=self.kill_rate,
            hang_rate=self.hang_rate,
            db_drop_rate=self.db_drop_rate,
            spared_actions=(SINK_ACTION,),
        )

    @property
    def chaos(self) -> bool:
        return bool(self.clock_skew_s or self.long_tasks or self.operator_rate or self.http_async or self.backlog)

    @property
    def recovery_bound_s(self) -> float:
        """A killed worker's task runs again within its lease plus one (busy) worker tick."""
        return self.lease_seconds + WORKER_TICK_SECONDS


@dataclass
class LoadTestReport:
    orders: int = 0
    delivered: int = 0
    failed_permanent: int = 0
    expected_failed_permanent: int = 0  # what the fault plan (and attempts lost to a restart) dooms
    cancelled: int = 0
    not_terminal: int = 0
    lost: int = 0
    double_delivered: int = 0
    duplicate_side_effects: int = 0
    duplicates_by_kind: dict[str, int] = field(default_factory=dict)
    missing_side_effects: int = 0  # delivered orders lacking an email or a published site
    emails_sent: dict[str, int] = field(default_factory=dict)
    sites_published: int = 0
    campaign_csvs: int = 0
    payment_events_sent: int = 0
    duplicate_payments_sent: int = 0
    payments_undelivered: int = 0
    workflows_started: int = 0
    stale_reports_sent: int = 0
    stale_reports_recorded: int = 0
    stale_reports_applied: int = 0
    kills: int = 0
    kills_without_driver: int = 0  # doomed workers that killed themselves before the driver did
    max_recovery_s: float | None = None  # SIGKILL -> the killed task claimed again
    max_requeue_s: float | None = None  # SIGKILL -> its lease recovered, the task queued again
    recovery_bound_s: float = 0.0
    unrecovered_kills: int = 0
    hangs: int = 0
    max_hang_recovery_s: float | None = None  # end of the hung step's timeout -> claimed again
    faults_injected: dict[str, int] = field(default_factory=dict)
    faults_not_applied: int = 0  # attempts the plan faulted that succeeded anyway
    attempts_lost_unplanned: int = 0  # attempts lost to something the plan did not inject
    # Attempts a SIGKILLed worker held beside the one the plan killed it for (claimed in the same
    # batch, not started): lost to that kill, their own planned fault never met.
    attempts_lost_to_kills: int = 0
    attempts_timed_out: int = 0
    worker_starts: int = 0
    worker_crashes: int = 0
    driver_db_reconnects: int = 0
    driver_connections_dropped: int = 0
    http_throttled: int = 0
    http_server_errors: int = 0
    db_restart: dict[str, Any] | None = None
    p50_s: float | None = None
    p95_s: float | None = None
    errors_recorded: int = 0
    wall_s: float = 0.0
    faults: dict[str, Any] = field(default_factory=dict)
    artifacts: str | None = None  # worker logs and sinks, kept when the run failed
    chaos: bool = False  # the grown fault model was on (any of its options)
    # Measured from the claim journal and the inbox (orders/loadtest_journal.py, loadtest_chaos.py).
    work_for_failed_runs: int = 0  # attempts opened while their run had failed for good or been cancelled
    work_for_ended_runs_by_status: dict[str, int] = field(default_factory=dict)
    stale_applied: int = 0  # reports known stale when sent (older attempt or generation), applied anyway
    claims_journaled: int = 0
    cancelled_by_operator: int = 0  # orders whose last operator act was a cancel: terminal, not lost
    operator_touched: int = 0
    operator_acts: dict[str, int] = field(default_factory=dict)
    operator_acts_tried: int = 0
    plain_tasks: int = 0  # the chaos's own plain tasks (long-behind-short pairs and the backlog)
    plain_doubled: int = 0  # of those, run twice by the engine (counted in duplicate_side_effects)
    plain_lost: int = 0  # not succeeded at the end
    backlog_done: int = 0
    backlog_left: int = 0  # still queued when the orders were done (not waited for)
    callbacks: dict[str, int] = field(default_factory=dict)  # what the callback proxy saw and did
    clock_offsets: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


# --- Guards ------------------------------------------------------------------------------------


def check_target(options: LoadTestOptions) -> list[str] | None:
    """Refuse a run that would be unsafe or cannot work here; returns the restart command, if any."""
    name = connection.settings_dict.get("NAME")
    if options.restart_db_command and options.restart_db_at is None:
        raise LoadTestRefused("--restart-db-command needs --restart-db-at (when to run it)")
    command = None
    if options.restart_db_at is not None:
        if connection.vendor == "sqlite":
            raise LoadTestRefused(
                f"--restart-db-at restarts a PostgreSQL server, but the database is SQLite ({name}): an "
                "embedded file has no server to restart. Point DATABASE_URL at a scratch PostgreSQL database."
            )
        command = restart_command(options.restart_db_command)
    try:
        foreign = Project.objects.exclude(contact_email__endswith=f"@{EMAIL_DOMAIN}").count()
    except db.Error as exc:
        raise LoadTestRefused(
            f"Cannot read the database {name!r} ({exc}). Is it migrated (manage.py migrate)?"
        ) from exc
    if foreign and not options.allow_existing_data:
        raise LoadTestRefused(
            f"The database {name!r} holds {foreign} project(s) the load test did not create. The load test runs "
            "every queued task it finds, with faults, and must never meet real orders: point DATABASE_URL at a "
            "scratch database, or pass --allow-existing-data if this one really is disposable."
        )
    return command


def restart_command(configured: str | None) -> list[str]:
    """The command that restarts the database server: the configured one, or this machine's cluster."""
    if configured:
        try:
            argv = shlex.split(configured)
        except ValueError as exc:  # an unclosed quote, a trailing escape
            raise LoadTestRefused(f"--restart-db-command {configured!r} is not a command line: {exc}") from exc
        if not argv:
            raise LoadTestRefused("--restart-db-command is empty")
        return argv
    versions = sorted(p.name for p in Path("/etc/postgresql").glob("*")) if Path("/etc/postgresql").is_dir() else []
    if len(versions) != 1:
        raise LoadTestRefused(
            f"Cannot tell which PostgreSQL cluster to restart (/etc/postgresql holds {versions or 'nothing'}): "
            "give --restart-db-command"
        )
    return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[0], "main", "restart"]


def describe(options: LoadTestOptions) -> dict[str, Any]:
    """What a run would do (for --dry-run): the guards pass, nothing is created."""
    command = check_target(options)
    return {
        "database": connection.settings_dict.get("NAME"),
        "vendor": connection.vendor,
        "orders": options.orders,
        "workers": options.workers,
        "plan": asdict(options.plan()),
        "recovery_bound_s": options.recovery_bound_s,
        "restart_db_at": options.restart_db_at,
        "restart_db_command": command,
        "chaos": {
            "clock_skew_s": options.clock_skew_s,
            "long_tasks": options.long_tasks,
            "operator_rate": options.operator_rate,
            "http_async": options.http_async,
            "backlog": options.backlog,
        },
    }


# --- What the plan dooms -----------------------------------------------------------------------


@dataclass(frozen=True)
class TaskFacts:
    id: int
    project_id: Any
    max_attempts: int
    timeout_seconds: float


def task_dies(
    plan: FaultPlan, task: TaskFacts, lost_attempts: Iterable[int] = (), clean_attempts: Iterable[int] = ()
) -> bool:
    """Whether the plan kills this task for good: a permanent fault, or every attempt failing.

    `lost_attempts` are attempts lost to something the plan does not inject (a database
    restart under a running attempt): each one costs an attempt, and the next one follows the plan.
    `clean_attempts` ran where the plan is not applied (the agents' HTTP server): they succeed.
    """
    lost, clean = set(lost_attempts), set(clean_attempts)
    for attempt in range(1, task.max_attempts + 1):
        if attempt in lost:
            continue
        if attempt in clean:
            return False
        fault = plan.fault_for(
            task_id=task.id, attempt=attempt, max_attempts=task.max_attempts, timeout_seconds=task.timeout_seconds
        )
        if fault == PERMANENT:
            return True
        if fault is None:
            return False
    return True


def doomed_projects(
    plan: FaultPlan,
    tasks: Iterable[TaskFacts],
    lost: dict[int, set[int]],
    clean: dict[int, set[int]] | None = None,
) -> set[Any]:
    """The projects that must fail: any of their steps dies (a step after a dead one never runs,
    but its project has failed already)."""
    clean = clean or {}
    return {t.project_id for t in tasks if task_dies(plan, t, lost.get(t.id, ()), clean.get(t.id, ()))}


def count_lost(statuses: dict[Any, str], runs: dict[Any, int], cancelled_by_operator: set[Any]) -> int:
    """Lost: the customer paid (the driver's payment reached the webhook, or should have) and the
    order has no run, or is neither delivered nor failed for good; cancelled counts as finished
    only for an order whose last operator act was a cancel."""
    return sum(
        not runs.get(pid)
        or (
            status not in (ProjectStatus.DELIVERED, ProjectStatus.FAILED)
            and not (pid in cancelled_by_operator and status == ProjectStatus.CANCELLED)
        )
        for pid, status in statuses.items()
    )


# --- Sinks: where side effects really land -------------------------------------------------------


class JournalingStorage(FileSystemStorage):
    """The workers' storage in a load test: files under MEDIA_ROOT (a scratch directory), plus an
    append-only journal with one line per file written, so the driver counts publishes at the sink
    instead of trusting the agents' ledger."""

    def _save(self, name: str, content: Any) -> str:
        saved = super()._save(name, content)
        # One short line per write() in append mode: lines from concurrent workers never interleave.
        with open(Path(self.location) / JOURNAL_NAME, "a", encoding="utf-8") as journal:
            journal.write(json.dumps({"name": saved, "pid": os.getpid()}) + "\n")
        return saved


_HEADERS_START = re.compile(r"^Content-Type: ", re.MULTILINE)
_SEPARATOR = "\n" + "-" * 79 + "\n"
_STAFF_SUBJECT = re.compile(r"^Workflow \S+ failed \(run (?P<run>[0-9a-f-]{36})\)$")
_MANIFEST = re.compile(r"^sites/(?P<slug>[^/]+)/\.manifest\.json$")
# What every delivered order did exactly once, as the sinks count it.
_SINK_KINDS = ("email:payment_received", "email:site_live", "deploy", "campaign_csv", "delivered")


def console_messages(paths: Iterable[Path]) -> Iterator[tuple[str, str]]:
    """(To, Subject) of every message Django's console mail backend wrote to these files."""
    for path in paths:
        text = path.read_text(encoding="utf-8", errors="replace")
        for chunk in _console_chunks(text):
            message = email.message_from_string(chunk, policy=email.policy.default)
            if message["To"] and message["Subject"]:
                # Folding leaves whitespace where a long header was wrapped: compare words, not spacing.
                yield str(message["To"]).strip(), " ".join(str(message["Subject"]).split())


def _console_chunks(text: str) -> Iterator[str]:
    """Each message in a console backend's output, found by its top-level headers (a header block
    that starts with Content-Type and has a Subject), not by the separator between messages.

    The backend writes a message, its separator line and a newline as three writes, under a lock of
    its own instance only: in a process sending from several threads (the agents' gunicorn server)
    another thread's message lands between them, so a separator may be missing between two messages,
    or glued to the start of the next one. The message itself is one write and stays whole.
    """
    lines = text.replace(_SEPARATOR.strip("\n"), "\n").split("\n")
    starts = []
    for index, line in enumerate(lines):
        if not _HEADERS_START.match(line):
            continue
        end = index
        while end < len(lines) and lines[end].strip():
            end += 1
        if any(header.startswith("Subject:") for header in lines[index:end]):  # a part's headers have none
            starts.append(index)
    for start, end in itertools.pairwise([*starts, len(lines)]):
        yield "\n".join(lines[start:end])


def _subject(kind: str, project: dict[str, Any]) -> str:
    """The subject agents.mail gives this kind of email for this project."""
    subject = SUBJECTS[kind][project["language"]].format(business_name=project["business_name"])
    return " ".join(subject.split())


def _totals(effects: Counter[tuple[Any, str]]) -> Counter[str]:
    totals: Counter[str] = Counter()
    for (_, kind), n in effects.items():
        totals[kind] += n
    return totals


def published_slugs(media_root: Path) -> Counter[str]:
    """How many times each site's manifest was written: once per publish that changed anything."""
    journal = media_root / JOURNAL_NAME
    counts: Counter[str] = Counter()
    if journal.exists():
        for line in journal.read_text(encoding="utf-8").splitlines():
            match = _MANIFEST.match(json.loads(line)["name"])
            if match:
                counts[match["slug"]] += 1
    return counts


# --- The driver ----------------------------------------------------------------------------------


@dataclass
class _Worker:
    slot: int
    proc: subprocess.Popen
    name: str  # how the worker names itself in claims and agent runs: host:pid
    stdout: Path  # Django's console mail backend writes the worker's emails here
    stderr: Path
    killed: bool = False


@dataclass(frozen=True)
class _Kill:
    at: datetime
    worker: str
    by_driver: bool


class _Driver:
    def __init__(self, options: LoadTestOptions, workdir: Path, progress: Callable[[int, int], None]) -> None:
        self.options = options
        self.plan = options.plan()
        self.workdir = workdir
        self.media = workdir / "media"
        self.progress = progress
        self.report = LoadTestReport(
            orders=options.orders, faults=asdict(self.plan), recovery_bound_s=options.recovery_bound_s
        )
        self.lock = threading.Lock()  # counters and failures also written by payment threads
        self.workers: dict[int, _Worker] = {}
        self.generations = itertools.count()
        self.retired: list[_Worker] = []
        self.kills: list[_Kill] = []
        self.projects: list[Project] = []
        self.paid = 0  # orders whose payment has been sent
        self.payment_delivered: dict[Any, bool] = {}
        self.run_ids: list[Any] = []
        self.runs_known_for = 0
        self.seen_for_reports: set[int] = set()
        self.report_queue: list[tuple[int, str, int, str, Any]] = []
        self.reports_since = clock.now()
        self.drops = random.Random(f"{options.seed}:drops")
        self.client = Client(raise_request_exception=False)
        self.host = _request_host()
        self.started = time.monotonic()
        self.began_at = clock.now()
        self.token = secrets.token_hex(3)
        self.chaos = Chaos(self) if options.chaos else None
        self.report.chaos = options.chaos

    # -- helpers

    def fail(self, message: str) -> None:
        with self.lock:
            if message not in self.report.failures:
                self.report.failures.append(message)

    def count(self, name: str, n: int = 1) -> None:
        with self.lock:
            setattr(self.report, name, getattr(self.report, name) + n)

    def db(self, fn: Callable[[], T], *, what: str) -> T:
        """Run `fn`, reconnecting with bounded backoff while the database is away (a dropped
        connection, a restart): the driver must outlive the faults it injects."""
        delay = 0.1
        give_up = time.monotonic() + DB_RETRY_SECONDS
        while True:
            try:
                return fn()
            except db.Error as exc:
                if not _connection_lost(exc):
                    raise
                connections.close_all()
                self.count("driver_db_reconnects")
                if time.monotonic() + delay > give_up:
                    raise LoadTestAborted(
                        f"The database stayed unreachable for {DB_RETRY_SECONDS:.0f} s while {what}: {exc}"
                    ) from exc
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    # -- the run

    def run(self) -> LoadTestReport:
        if self.chaos is not None:
            self.chaos.check()
        self.db(loadtest_journal.install, what="installing the claim journal")
        try:
            self.db(self._create_orders, what="creating the orders")
            try:
                if self.chaos is not None:
                    self.chaos.start()
                for slot in range(self.options.workers):
                    self._spawn(slot)
                self._loop()
            finally:
                self._stop_workers()
                if self.chaos is not None:
                    self.chaos.stop()
            self.db(self._judge, what="judging the run")
        finally:
            self.db(loadtest_journal.uninstall, what="dropping the claim journal")
        self.report.wall_s = round(time.monotonic() - self.started, 2)
        return self.report

    def _create_orders(self) -> None:
        # Resumable: after a lost connection, the retry goes on from the last order created.
        for index in range(len(self.projects), self.options.orders):
            brief = dict(DEMO_BRIEFS[index % len(DEMO_BRIEFS)])
            # The run's token keeps names (and so slugs) and addresses apart from earlier runs'.
            brief["business_name"] = f"{brief['business_name']} {self.token}-{index}"
            brief["contact_email"] = f"order-{self.token}-{index}@{EMAIL_DOMAIN}"
            self.projects.append(project_create(**brief))

    def _loop(self) -> None:
        deadline = self.started + self.options.timeout_seconds
        total = self.options.orders
        while True:
            self.db(self._police_workers, what="watching the workers")
            self._pay_due()
            self.db(self._learn_runs, what="reading the runs")
            terminal = self.db(self._terminal_count, what="counting finished orders")
            self.progress(terminal, total)
            # Before the exit: orders that finish in a burst may carry the count past the moment.
            self._maybe_restart_db(terminal)
            if self.chaos is not None:
                self.db(self.chaos.step, what="running the chaos")
            if self.paid == total and terminal == total and (self.chaos is None or self.db(self.chaos.done, what="")):
                return
            if time.monotonic() > deadline:
                self.fail(f"{total - terminal} order(s) still unfinished after {self.options.timeout_seconds:.0f} s")
                return
            self._maybe_drop_own_connection()
            self.db(lambda: self._send_stale_reports(budget=0.2), what="sending late callbacks")
            time.sleep(LOOP_SECONDS)

    def _terminal_count(self) -> int:
        return Project.objects.filter(id__in=[p.id for p in self.projects], status__in=TERMINAL).count()

    # -- workers

    def _spawn(self, slot: int) -> None:
        generation = next(self.generations)
        stdout = self.workdir / f"worker-{slot}-{generation}.out"
        stderr = self.workdir / f"worker-{slot}-{generation}.err"
        env = self._worker_env()
        if self.chaos is not None:
            env = self.chaos.worker_env(slot, generation, env)
        with open(stdout, "wb") as out, open(stderr, "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, str(ROOT / "manage.py"), "run_worker", "--processes", "1", "--poll-interval", "0.2"],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=err,
            )
        name = f"{socket.gethostname()}:{proc.pid}"
        self.workers[slot] = _Worker(slot, proc, name, stdout, stderr)
        if self.chaos is not None:
            self.chaos.spawned(slot, generation, proc.pid, name)
        self.report.worker_starts += 1

    def base_env(self) -> dict[str, str]:
        """What every process of the run shares (workers and the agents' server): the database,
        the sinks, the lease, the signing key."""
        url = database_url()
        env = dict(os.environ)
        modules = [*engine_settings.ACTION_MODULES, "orders.loadtest_actions"]
        env.update(
            {
                "DATABASE_URL": url,
                "DIRECT_DATABASE_URL": os.environ.get("DIRECT_DATABASE_URL", url)
                if url == settings.DATABASE_URL
                else url,
                "ENGINE_LEASE_SECONDS": str(self.options.lease_seconds),
                "ENGINE_KICK": "false",
                "ENGINE_ACTION_MODULES": ",".join(dict.fromkeys(modules)),
                "WEBHOOK_SECRET": settings.WEBHOOK_SECRET,  # the driver's: HTTP dispatch and callbacks sign with it
                # Real sinks the driver can count, and nothing leaves this machine: emails go to the
                # process's stdout (file), sites into a scratch directory with a journal of writes.
                "EMAIL_URL": "consolemail://",
                "MEDIA_ROOT": str(self.media),
                "DEFAULT_FILE_STORAGE_BACKEND": f"{__name__}.JournalingStorage",
                "LOG_LEVEL": "WARNING",
            }
        )
        if self.options.backlog:
            limits = os.environ.get("ENGINE_CONCURRENCY_LIMITS", "design-ia=8,ads-management=8")
            env["ENGINE_CONCURRENCY_LIMITS"] = f"{limits},{BACKLOG_LIMIT}"
        return env

    def _worker_env(self) -> dict[str, str]:
        env = self.base_env()
        env.update(
            {
                "ENGINE_FAULTS": self.plan.to_json(),
                "ENGINE_POLL_INTERVAL_SECONDS": "0.2",
                "DISPATCH_MODE": "inline",  # faults are injected by the inline executor
            }
        )
        return env

    def _police_workers(self) -> None:
        """Restart workers that died; SIGKILL those running an attempt the plan dooms to a kill."""
        for slot, worker in list(self.workers.items()):
            code = worker.proc.poll()
            if code is None:
                continue
            if not worker.killed:
                if code == -signal.SIGKILL:  # a doomed worker the driver was too slow for killed itself
                    self._record_kill(worker, at=clock.now(), by_driver=False)
                else:
                    self.count("worker_crashes")
                    self.fail(f"worker {worker.name} exited with {code} on its own (its log: {worker.stderr})")
            self.retired.append(worker)
            self._spawn(slot)
        by_name = {w.name: w for w in self.workers.values()}
        # An HTTP worker's attempts run clean on the agents' server: the plan's kills are the inline ones.
        inline = [name for name in by_name if self.chaos is None or name not in self.chaos.http_names]
        running = (
            Task.objects.filter(status=TaskStatus.RUNNING, claimed_by__in=inline)
            .exclude(action__in=self.plan.spared_actions)
            .values_list("id", "attempt", "max_attempts", "timeout_seconds", "claimed_by")
        )
        for task_id, attempt, max_attempts, timeout, claimed_by in running:
            worker = by_name[claimed_by]
            fault = self.plan.fault_for(
                task_id=task_id, attempt=attempt, max_attempts=max_attempts, timeout_seconds=timeout
            )
            if fault == KILL and not worker.killed and _first_invocation(task_id, attempt):
                self._kill(worker)

    def _kill(self, worker: _Worker) -> None:
        at = clock.now()
        worker.proc.send_signal(signal.SIGKILL)
        worker.killed = True
        worker.proc.wait(timeout=30)
        self._record_kill(worker, at=at, by_driver=True)
        self.retired.append(worker)
        self._spawn(worker.slot)

    def _record_kill(self, worker: _Worker, *, at: datetime, by_driver: bool) -> None:
        # Only the moment: what the worker held is read from its agent runs when the run is judged.
        self.kills.append(_Kill(at=at, worker=worker.name, by_driver=by_driver))

    def _stop_workers(self) -> None:
        alive = [w for w in self.workers.values() if w.proc.poll() is None]
        for worker in alive:
            worker.proc.send_signal(signal.SIGTERM)
        for worker in alive:
            try:
                worker.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.proc.kill()
                worker.proc.wait(timeout=10)
            if worker.proc.returncode not in (0, -signal.SIGTERM):
                self.count("worker_crashes")
                self.fail(f"worker {worker.name} ended with {worker.proc.returncode} when stopped ({worker.stderr})")
        self.retired.extend(self.workers.values())
        self.workers.clear()

    # -- payments, over time and through the real webhook

    def _pay_due(self) -> None:
        due = min(self.options.orders, int((time.monotonic() - self.started) * self.options.pay_rate) + 1)
        stop_at = time.monotonic() + 0.3  # the workers' kills must not wait for a long batch
        while self.paid < due and time.monotonic() < stop_at:
            self._pay(self.paid)
            self.paid += 1

    def _pay(self, index: int) -> None:
        project = self.projects[index]
        rng = random.Random(f"{self.options.seed}:pay:{index}")
        session = f"cs_lt_{project.id.hex}"
        sender = STRIPE_SENDERS[index % len(STRIPE_SENDERS)]
        completed = _stripe_event(project, "checkout.session.completed", session, paid=True)
        if rng.random() >= self.options.duplicate_rate:
            self._deliver_payment(self.client, project, completed, sender)
            return
        self.count("duplicate_payments_sent")
        scenario = rng.choice(PAYMENT_SCENARIOS)
        if scenario == "same_event_twice":
            self._deliver_payment(self.client, project, completed, sender)
            self._deliver_payment(self.client, project, completed, sender)
        elif scenario == "same_event_at_once":
            threads = [
                threading.Thread(target=self._deliver_in_thread, args=(project, completed, sender)) for _ in range(2)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=HTTP_RETRY_SECONDS + 30)
        elif scenario == "completed_then_async":
            self._deliver_payment(self.client, project, completed, sender)
            succeeded = _stripe_event(project, "checkout.session.async_payment_succeeded", session, paid=True)
            self._deliver_payment(self.client, project, succeeded, sender)
        else:  # a delayed payment method whose events arrive the wrong way round
            succeeded = _stripe_event(project, "checkout.session.async_payment_succeeded", session, paid=True)
            self._deliver_payment(self.client, project, succeeded, sender)
            unpaid = _stripe_event(project, "checkout.session.completed", session, paid=False)
            self._deliver_payment(self.client, project, unpaid, sender)

    def _deliver_in_thread(self, project: Project, event: dict[str, Any], sender: str) -> None:
        try:
            self._deliver_payment(Client(raise_request_exception=False), project, event, sender)
        finally:
            connections.close_all()  # this thread's connection only

    def _deliver_payment(self, client: Client, project: Project, event: dict[str, Any], sender: str) -> None:
        self.count("payment_events_sent")

        def sign(body: bytes) -> dict[str, str]:
            header = stripe.WebhookSignature.generate_signature_header(body.decode(), settings.STRIPE_WEBHOOK_SECRET)
            return {"HTTP_STRIPE_SIGNATURE": header}

        answer = self._post(client, PAYMENT_WEBHOOK, event, sign=sign, sender=sender, what=f"payment {event['id']}")
        paid = event["data"]["object"]["payment_status"] == "paid"
        with self.lock:
            delivered = self.payment_delivered.get(project.id, False)
            self.payment_delivered[project.id] = delivered or (answer is not None and paid)

    def _post(
        self,
        client: Client,
        path: str,
        body: dict[str, Any],
        *,
        sign: Callable[[bytes], dict[str, str]],
        sender: str,
        what: str,
    ) -> dict[str, Any] | None:
        """POST a signed JSON body; redeliver on 429 and 5xx, as Stripe and the agents do."""
        raw = json.dumps(body).encode()
        delay = 0.2
        give_up = time.monotonic() + HTTP_RETRY_SECONDS
        while True:
            response = client.post(
                path, data=raw, content_type="application/json", REMOTE_ADDR=sender, HTTP_HOST=self.host, **sign(raw)
            )
            status = response.status_code
            if status == 200:
                return response.json()
            if status == 429:
                self.count("http_throttled")
            elif status >= 500:
                self.count("http_server_errors")
                connections.close_all()  # the database may be why: reconnect on the next delivery
            if (status != 429 and status < 500) or time.monotonic() + delay > give_up:
                self.fail(f"{what}: POST {path} answered {status}: {response.content[:300]!r}")
                return None
            wait = float(response.get("Retry-After") or delay) if status == 429 else delay
            time.sleep(min(wait, 5.0))
            delay = min(delay * 2, 5.0)

    def _learn_runs(self) -> None:
        if self.runs_known_for < self.paid:
            ids = [p.id for p in self.projects[self.runs_known_for : self.paid]]
            self.run_ids += list(WorkflowRun.objects.filter(project_id__in=ids).values_list("id", flat=True))
            self.runs_known_for = self.paid

    # -- late, duplicate and reordered agent callbacks, through the real callback route

    def _send_stale_reports(self, *, budget: float) -> None:
        if not self.options.duplicate_rate or not self.run_ids:
            return
        since, self.reports_since = self.reports_since - timedelta(seconds=2), clock.now()
        # Finished tasks (reports after completion) and tasks on a later attempt (reports from an
        # older one): reports no attempt holding the task could send, so none may be applied.
        candidates = Task.objects.filter(run_id__in=self.run_ids).filter(
            Q(status=TaskStatus.SUCCEEDED, finished_at__gte=since)
            | Q(attempt__gte=2, status__in=[TaskStatus.QUEUED, TaskStatus.RUNNING])
        )
        for task_id, action, attempt, status, project_id in candidates.values_list(
            "id", "action", "attempt", "status", "run__project_id"
        ):
            if task_id not in self.seen_for_reports:
                self.seen_for_reports.add(task_id)
                if random.Random(f"{self.options.seed}:report:{task_id}").random() < self.options.duplicate_rate:
                    self.report_queue.append((task_id, action, attempt, status, project_id))
        stop_at = time.monotonic() + budget
        while self.report_queue and time.monotonic() < stop_at:
            self._stale_burst(*self.report_queue.pop(0))

    def _stale_burst(self, task_id: int, action: str, attempt: int, status: str, project_id: Any) -> None:
        rng = random.Random(f"{self.options.seed}:burst:{task_id}")
        if status == TaskStatus.SUCCEEDED:
            kinds = list(REPORT_TYPES)  # all four, for the last attempt, after completion, shuffled
            rng.shuffle(kinds)
            reports = [(kind, attempt) for kind in kinds]
        else:
            reports = [(rng.choice(REPORT_TYPES), attempt - 1)]  # a late report from the previous attempt
        sent = [self.send_report(task_id, action, project_id, kind=kind, attempt=old) for kind, old in reports]
        msg_id, body = rng.choice(sent)
        # The same delivery again: deduplicated on webhook-id.
        self._deliver_report(msg_id, body, AGENT_SENDERS[task_id % len(AGENT_SENDERS)])

    def send_report(
        self, task_id: int, action: str, project_id: Any, *, kind: str, attempt: int
    ) -> tuple[str, dict[str, Any]]:
        """Send one report that no attempt holding the task could send (a late one, or one from an
        earlier generation). Its webhook-id says so, for the verdict to find it in the inbox."""
        body = {
            "type": kind,
            "agentId": dispatch.agent_of(action),
            "projectId": str(project_id),
            "taskId": task_id,
            "attempt": attempt,
            "data": _report_data(kind),
        }
        msg_id = f"{STALE_PREFIX}{uuid.uuid4().hex}"
        self._deliver_report(msg_id, body, AGENT_SENDERS[task_id % len(AGENT_SENDERS)])
        return msg_id, body

    def _deliver_report(self, msg_id: str, body: dict[str, Any], sender: str) -> None:
        self.count("stale_reports_sent")

        def sign(raw: bytes) -> dict[str, str]:
            moment = datetime.now(UTC)
            return {
                "HTTP_WEBHOOK_ID": msg_id,
                "HTTP_WEBHOOK_TIMESTAMP": str(int(moment.timestamp())),
                "HTTP_WEBHOOK_SIGNATURE": Webhook(settings.WEBHOOK_SECRET).sign(msg_id, moment, raw.decode()),
            }

        what = f"{body['type']} for attempt {body['attempt']} of task {body['taskId']}"
        answer = self._post(self.client, CALLBACK_WEBHOOK, body, sign=sign, sender=sender, what=what)
        if answer is not None and answer.get("applied"):
            self.count("stale_reports_applied")
            self.fail(f"a stale {what} was applied: {answer}")

    # -- the database restart and the driver's own dropped connection

    def _maybe_restart_db(self, terminal: int) -> None:
        at = self.options.restart_db_at
        if at is None or self.report.db_restart is not None or terminal < math.ceil(at * self.options.orders):
            return
        argv = restart_command(self.options.restart_db_command)
        # The driver keeps its connection open, like every other client: it must survive the restart.
        began = time.monotonic()
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
            returncode, output = done.returncode, (done.stdout + done.stderr)[-500:]
        except (OSError, subprocess.TimeoutExpired) as exc:
            returncode, output = -1, str(exc)
        self.report.db_restart = {
            "at_s": round(began - self.started, 2),
            "terminal_orders": terminal,
            "command": shlex.join(argv),
            "returncode": returncode,
            "seconds": round(time.monotonic() - began, 2),
            "output": output.strip(),
        }
        if returncode != 0:
            self.fail(f"the database restart command {shlex.join(argv)!r} failed ({returncode}): {output.strip()}")

    def _maybe_drop_own_connection(self) -> None:
        if self.drops.random() < self.options.db_drop_rate:
            with contextlib.suppress(db.Error):
                connection.ensure_connection()
            drop_connection()
            self.report.driver_connections_dropped += 1

    # -- the verdict, from the database and the sinks

    def _judge(self) -> None:
        r = self.report
        ids = [p.id for p in self.projects]
        projects = {row["id"]: row for row in Project.objects.filter(id__in=ids).values()}
        runs = dict(
            WorkflowRun.objects.filter(project_id__in=ids, workflow=ORDER_WORKFLOW_NAME)
            .values("project_id")
            .annotate(n=Count("id"))
            .values_list("project_id", "n")
        )
        status = Counter(row["status"] for row in projects.values())
        r.delivered, r.failed_permanent = status[ProjectStatus.DELIVERED], status[ProjectStatus.FAILED]
        r.cancelled = status[ProjectStatus.CANCELLED]
        r.not_terminal = sum(row["status"] not in TERMINAL for row in projects.values())
        r.workflows_started = sum(runs.values())
        r.payments_undelivered = sum(not self.payment_delivered.get(pid, False) for pid in ids)
        # Orders an operator acted on follow the operator, not the fault plan: one whose last act was
        # a cancel must end cancelled; the others (replayed, retried) delivered or failed.
        touched, cancelled = self.chaos.operator_outcomes(ids) if self.chaos else (set(), set())
        r.operator_touched, r.cancelled_by_operator = len(touched), len(cancelled)
        r.lost = count_lost({pid: row["status"] for pid, row in projects.items()}, runs, cancelled)
        tasks = list(
            Task.objects.filter(run__project_id__in=ids).values_list(
                "id", "run__project_id", "step", "max_attempts", "timeout_seconds"
            )
        )
        attempts = _attempt_outcomes(ids)
        unfaulted = self.chaos.http_attempts(ids) if self.chaos else set()
        self._judge_faults(
            [t for t in tasks if t[1] not in touched],
            {k: v for k, v in attempts.items() if k not in unfaulted},
            {pid: row for pid, row in projects.items() if pid not in touched},
            unfaulted,
        )
        self._judge_side_effects(projects, tasks, runs, self.chaos.generations(ids) if self.chaos else {})
        self._judge_recovery(tasks)
        if self.chaos is not None:
            self.chaos.judge(ids)
        else:
            run_ids = list(WorkflowRun.objects.filter(project_id__in=ids).values_list("id", flat=True))
            ended = loadtest_journal.claims_for_ended_runs(run_ids)
            r.work_for_failed_runs = len(ended)
            r.work_for_ended_runs_by_status = loadtest_journal.summary(ended)
            r.claims_journaled = loadtest_journal.claims_recorded()
            r.stale_applied = stale_applied(None, {t[0] for t in tasks})
        durations = sorted(
            (row["delivered_at"] - row["paid_at"]).total_seconds()
            for row in projects.values()
            if row["delivered_at"] and row["paid_at"]
        )
        r.p50_s, r.p95_s = _percentile(durations, 50), _percentile(durations, 95)
        agent_runs = AgentRun.objects.filter(run__project_id__in=ids)
        r.stale_reports_recorded = agent_runs.filter(outcome=AttemptOutcome.STALE).count()
        r.attempts_timed_out = agent_runs.filter(outcome=AttemptOutcome.TIMED_OUT).count()
        # Every failed attempt of this run's tasks recorded exactly one error (services.task_fail).
        r.errors_recorded = agent_runs.filter(outcome__in=FAILED_OUTCOMES).count()
        if r.errors_recorded and not ErrorGroup.objects.filter(last_seen__gte=self.began_at).exists():
            self.fail(f"{r.errors_recorded} attempts failed, yet no error was recorded during the run")
        r.failures.extend(verdict(r))

    def _judge_faults(
        self,
        tasks: list[tuple],
        attempts: dict[tuple[int, int], str],
        projects: dict[Any, dict[str, Any]],
        unfaulted: set[tuple[int, int]],
    ) -> None:
        """The plan's faults against what happened, for the orders no operator touched.
        `unfaulted`: (task, attempt) the plan was not applied to (run by the agents' HTTP server)."""
        r = self.report
        facts = {tid: TaskFacts(tid, pid, max_attempts, timeout) for tid, pid, _, max_attempts, timeout in tasks}
        injected: Counter[str] = Counter()
        lost: dict[int, set[int]] = defaultdict(set)
        lost_to_kills: dict[int, set[int]] = defaultdict(set)
        killed = {(held.task_id, held.attempt) for kill in self.kills for held in _held_at(kill)}
        clean: dict[int, set[int]] = defaultdict(set)
        for task_id, attempt in unfaulted:
            if (task_id, attempt) not in attempts:
                clean[task_id].add(attempt)
        for (task_id, attempt), outcome in attempts.items():
            t = facts.get(task_id)
            if t is None:
                continue  # a task of an order an operator acted on
            fault = self.plan.fault_for(
                task_id=task_id, attempt=attempt, max_attempts=t.max_attempts, timeout_seconds=t.timeout_seconds
            )
            if (task_id, attempt) in killed and fault != KILL and outcome == AttemptOutcome.TIMED_OUT:
                # Claimed in the batch of an attempt the plan killed its worker for, and not reached:
                # lost to that kill (an attempt spent), its own fault (a permanent one too) never met.
                lost_to_kills[task_id].add(attempt)
                continue
            if fault is not None:
                injected[fault] += 1
                if outcome == AttemptOutcome.SUCCEEDED:
                    r.faults_not_applied += 1
            elif outcome in FAILED_OUTCOMES:
                lost[task_id].add(attempt)
        r.faults_injected = {fault: injected[fault] for fault in FAULTS}
        r.hangs = injected[HANG]
        r.attempts_lost_unplanned = sum(len(a) for a in lost.values())
        r.attempts_lost_to_kills = sum(len(a) for a in lost_to_kills.values())
        for task_id, spent in lost_to_kills.items():
            lost[task_id] |= spent
        doomed = doomed_projects(self.plan, facts.values(), lost, clean)
        r.expected_failed_permanent = len(doomed)
        failed = {pid for pid, row in projects.items() if row["status"] == ProjectStatus.FAILED}
        if failed != doomed:
            surprise = sorted(str(p) for p in failed - doomed)[:5]
            spared = sorted(str(p) for p in doomed - failed)[:5]
            self.fail(
                f"failed_permanent is {len(failed)} but the fault plan dooms {len(doomed)} order(s): failed "
                f"unexpectedly {surprise}, doomed but not failed {spared}"
            )

    def _judge_side_effects(
        self,
        projects: dict[Any, dict[str, Any]],
        tasks: list[tuple],
        runs: dict[Any, int],
        generations: dict[Any, int],
    ) -> None:
        """Count every side effect where it landed, per project and kind, and flag any done twice:
        more often than the order's run has generations (an operator's replay redoes work on purpose,
        under fresh idempotency keys; nothing may be done twice within one generation's count)."""
        r = self.report
        effects: Counter[tuple[Any, str]] = Counter()
        self._count_emails(projects, effects)
        by_slug = {row["slug"]: pid for pid, row in projects.items() if row["slug"]}
        for slug, n in published_slugs(self.media).items():
            if slug in by_slug:
                effects[(by_slug[slug], "deploy")] += n
        # The CSV lives in the campaign step's output, and delivery is the notify step's completion:
        # each accepted completion (a SUCCEEDED attempt) is one of them.
        steps = {tid: (pid, step) for tid, pid, step, _, _ in tasks}
        accepted = AgentRun.objects.filter(task_id__in=list(steps), outcome=AttemptOutcome.SUCCEEDED)
        for task_id in accepted.values_list("task_id", flat=True):
            pid, step = steps[task_id]
            if step in ("campaign", "notify"):
                effects[(pid, "campaign_csv" if step == "campaign" else "delivered")] += 1
        # Twice, by any count: the sinks above, or the agents' own ledger (per key: each page of copy apart).
        twice = {(pid, kind): kind for (pid, kind), n in effects.items() if n > generations.get(pid, 1)}
        ledger = SideEffect.objects.filter(project_id__in=list(projects), performed__gt=1)
        for pid, kind, key in ledger.values_list("project_id", "kind", "key"):
            twice[(pid, kind if kind in _SINK_KINDS else key)] = kind
        r.duplicate_side_effects = len(twice)
        r.duplicates_by_kind = dict(Counter(twice.values()))
        r.emails_sent = {kind: n for kind, n in _totals(effects).items() if kind.startswith("email:")}
        r.sites_published = _totals(effects)["deploy"]
        r.campaign_csvs = _totals(effects)["campaign_csv"]
        r.double_delivered = sum(
            effects[(pid, "email:site_live")] > generations.get(pid, 1)
            or effects[(pid, "delivered")] > generations.get(pid, 1)
            or runs.get(pid, 0) > 1
            for pid in projects
        )
        delivered = [pid for pid, row in projects.items() if row["status"] == ProjectStatus.DELIVERED]
        r.missing_side_effects = sum(any(effects[(pid, kind)] == 0 for kind in _SINK_KINDS) for pid in delivered)

    def _count_emails(self, projects: dict[Any, dict[str, Any]], effects: Counter[tuple[Any, str]]) -> None:
        """Emails the workers' mail backend wrote (and any the driver's own process sent), by
        project and kind: a customer email by its address and exact subject, a staff email by its run."""
        customer = {
            (row["contact_email"], _subject(kind, row)): (pid, f"email:{kind}")
            for pid, row in projects.items()
            for kind in SUBJECTS
        }
        addresses = {row["contact_email"]: pid for pid, row in projects.items()}
        run_projects = {
            str(run_id): pid
            for run_id, pid in WorkflowRun.objects.filter(project_id__in=list(projects)).values_list("id", "project_id")
        }
        outputs = [w.stdout for w in self.retired] + ([self.chaos.server_out] if self.chaos else [])
        messages = list(console_messages(path for path in outputs if path.exists()))
        messages += [(", ".join(m.to), " ".join(str(m.subject).split())) for m in getattr(mail, "outbox", [])]
        for to, subject in messages:
            staff = _STAFF_SUBJECT.match(subject)
            if (to, subject) in customer:
                effects[customer[(to, subject)]] += 1
            elif staff and staff["run"] in run_projects:
                effects[(run_projects[staff["run"]], "email:staff_failure")] += 1
            elif to in addresses:
                effects[(addresses[to], "email:other")] += 1

    def _judge_recovery(self, tasks: list[tuple]) -> None:
        r = self.report
        r.kills = len(self.kills)
        r.kills_without_driver = sum(not k.by_driver for k in self.kills)
        worst = worst_requeue = None
        for kill in self.kills:
            for h in _held_at(kill):
                if h.finished_at is None:
                    r.unrecovered_kills += 1  # still open when the run ended: nothing recovered it
                    continue
                if h.outcome != AttemptOutcome.TIMED_OUT:
                    # Closed before any lease recovery, by an operator's cancel (or its run ending): its
                    # next claim, if any, is a replay's, not a recovery. It was held that long at least.
                    seconds = (h.finished_at - kill.at).total_seconds()
                    worst = seconds if worst is None else max(worst, seconds)
                    continue
                requeue = (h.finished_at - kill.at).total_seconds()
                worst_requeue = requeue if worst_requeue is None else max(worst_requeue, requeue)
                again = _next_claim(h.task_id, after=h.id)
                if again is None:
                    # Not stranded if its order had failed meanwhile (the engine runs no more of a dead
                    # run), or if the recovery spent its last attempt (the task is dead, for good).
                    r.unrecovered_kills += not _nothing_more_to_run(h.task_id)
                    continue
                seconds = (again - kill.at).total_seconds()
                worst = seconds if worst is None else max(worst, seconds)
        r.max_recovery_s = None if worst is None else round(worst, 2)
        r.max_requeue_s = None if worst_requeue is None else round(worst_requeue, 2)
        # Hangs, apart: from the end of the hung step's timeout to its next claim.
        timeouts = {tid: (max_attempts, timeout) for tid, _, _, max_attempts, timeout in tasks}
        worst_hang = None
        hung = AgentRun.objects.filter(task_id__in=list(timeouts), outcome=AttemptOutcome.TIMED_OUT)
        for agent_run_id, task_id, attempt, started_at in hung.values_list("id", "task_id", "attempt", "started_at"):
            max_attempts, timeout = timeouts[task_id]
            fault = self.plan.fault_for(
                task_id=task_id, attempt=attempt, max_attempts=max_attempts, timeout_seconds=timeout
            )
            again = _next_claim(task_id, after=agent_run_id) if fault == HANG else None
            if again is not None:
                seconds = (again - started_at).total_seconds() - timeout
                worst_hang = seconds if worst_hang is None else max(worst_hang, seconds)
        r.max_hang_recovery_s = None if worst_hang is None else round(worst_hang, 2)


def _connection_lost(exc: db.Error) -> bool:
    """Whether the error says the connection is gone (worth reconnecting), not that the query is wrong."""
    if isinstance(exc, db.OperationalError | db.InterfaceError):
        return True
    # SQLite reports a handle closed under it as a programming error.
    return isinstance(exc, db.ProgrammingError) and "closed database" in str(exc)


def verdict(report: LoadTestReport) -> list[str]:
    """What is wrong with a finished run, judged from its report's database figures."""
    problems = []
    if report.not_terminal:
        problems.append(f"{report.not_terminal} order(s) are not terminal (delivered, failed or cancelled)")
    if report.lost:
        problems.append(f"{report.lost} paid order(s) lost: neither delivered nor failed for good, or no run")
    if report.double_delivered:
        problems.append(f"{report.double_delivered} order(s) delivered twice")
    if report.duplicate_side_effects:
        problems.append(f"{report.duplicate_side_effects} side effect(s) happened twice: {report.duplicates_by_kind}")
    if report.missing_side_effects:
        problems.append(f"{report.missing_side_effects} delivered order(s) lack an email, a published site or a CSV")
    if report.payments_undelivered:
        problems.append(f"{report.payments_undelivered} order(s) whose payment never got through the webhook")
    if report.faults_not_applied:
        problems.append(f"{report.faults_not_applied} attempt(s) succeeded although the plan faulted them")
    if report.attempts_lost_unplanned and report.db_restart is None:
        # Only a database restart may cost attempts the plan did not fault (those under way when it
        # went down); otherwise something burned attempts of innocent tasks.
        problems.append(f"{report.attempts_lost_unplanned} attempt(s) lost to faults the plan did not inject")
    # A run that failed for good (fail-fast) or was cancelled does no more work: any attempt opened
    # while its run had ended is a defect, with or without the chaos.
    if report.work_for_failed_runs:
        problems.append(
            f"{report.work_for_failed_runs} attempt(s) started for runs already failed or cancelled: "
            f"{report.work_for_ended_runs_by_status}"
        )
    if report.stale_applied:
        problems.append(f"{report.stale_applied} report(s) from a superseded attempt or generation applied")
    if report.backlog_left and not report.backlog_done:
        problems.append(f"the backlog stalled: none of its {report.backlog_left} task(s) ran")
    if report.plain_lost:
        problems.append(f"{report.plain_lost} of the load test's {report.plain_tasks} plain task(s) did not succeed")
    if report.unrecovered_kills:
        problems.append(f"{report.unrecovered_kills} task(s) held by a killed worker never ran again")
    if report.max_recovery_s is not None and report.max_recovery_s > report.recovery_bound_s:
        problems.append(
            f"max_recovery_s {report.max_recovery_s} exceeds the bound of {report.recovery_bound_s:g} s "
            f"(lease + one worker tick)"
        )
    return problems


@dataclass(frozen=True)
class _Held:
    """An attempt a killed worker had open, and how it was closed (by whom, when)."""

    id: int  # its agent run
    task_id: int
    attempt: int
    outcome: str  # timed_out: the engine's lease recovery; cancelled: an operator's cancel
    finished_at: datetime | None


def _held_at(kill: _Kill) -> list[_Held]:
    """The attempts the killed worker had open."""
    rows = AgentRun.objects.filter(worker=kill.worker, started_at__lte=kill.at).filter(
        Q(finished_at__isnull=True) | Q(finished_at__gte=kill.at)
    )
    fields = ("id", "task_id", "attempt", "outcome", "finished_at")
    return [_Held(*row) for row in rows.exclude(outcome=AttemptOutcome.STALE).values_list(*fields)]


def _nothing_more_to_run(task_id: int) -> bool:
    """Whether the engine rightly runs this task no more: dead or cancelled, or its run over."""
    row = Task.objects.filter(id=task_id).values("status", "run__status").first() or {}
    return row.get("status") in (TaskStatus.DEAD, TaskStatus.CANCELLED) or row.get("run__status") in (
        RunStatus.FAILED,
        RunStatus.CANCELLED,
    )


def _first_invocation(task_id: int, attempt: int) -> bool:
    """Whether the running invocation of this attempt is its first (a continuation is never faulted)."""
    return not AgentRun.objects.filter(task_id=task_id, attempt=attempt, outcome=AttemptOutcome.CONTINUED).exists()


def _attempt_outcomes(project_ids: list[Any]) -> dict[tuple[int, int], str]:
    """How each attempt of these projects' tasks ended: the outcome of its last invocation."""
    rows = (
        AgentRun.objects.filter(run__project_id__in=project_ids)
        .exclude(outcome__in=[AttemptOutcome.STALE, AttemptOutcome.RELEASED])
        .order_by("id")
        .values_list("task_id", "attempt", "outcome")
    )
    return {(task_id, attempt): outcome for task_id, attempt, outcome in rows}


def _next_claim(task_id: int, *, after: int) -> datetime | None:
    return (
        AgentRun.objects.filter(task_id=task_id, id__gt=after)
        .exclude(outcome=AttemptOutcome.STALE)
        .order_by("id")
        .values_list("started_at", flat=True)
        .first()
    )


def _stripe_event(project: Project, kind: str, session: str, *, paid: bool) -> dict[str, Any]:
    """A Checkout event in Stripe's shape (the fields the webhook reads, and a few it keeps)."""
    return {
        "id": f"evt_lt_{uuid.uuid4().hex}",
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "livemode": False,
        "data": {
            "object": {
                "id": session,
                "object": "checkout.session",
                "mode": "payment",
                "client_reference_id": str(project.id),
                "amount_total": settings.ORDER_PRICE_CENTS,
                "currency": settings.ORDER_CURRENCY,
                "payment_status": "paid" if paid else "unpaid",
            }
        },
    }


def _report_data(kind: str) -> dict[str, Any]:
    if kind == "task_completed":
        return {"output": {"late": True}}
    if kind == "task_failed":
        # Permanent: were it applied, the order would die of it, which the verdict would see.
        return {"error": "late failure from an old attempt", "retryable": False, "errorType": "LateReport"}
    if kind == "task_progress":
        return {"progress": {"done": 1, "total": 1}}
    return {}


def _request_host() -> str:
    """A Host header the settings allow (the webhook views run in this process)."""
    for host in settings.ALLOWED_HOSTS:
        if host not in ("*",) and not host.startswith("."):
            return host
    return "localhost"


def database_url() -> str:
    """The URL of the database this process uses, for the worker processes."""
    s = connection.settings_dict
    configured = dj_database_url.parse(settings.DATABASE_URL)
    if configured.get("NAME") == s.get("NAME") and (configured.get("HOST") or "") == (s.get("HOST") or ""):
        return settings.DATABASE_URL  # as configured, with its options (sslmode and the like)
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = quote(s["USER"] or "", safe="") + (f":{quote(s['PASSWORD'], safe='')}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    k = (len(values) - 1) * pct / 100
    low = int(k)
    high = min(low + 1, len(values) - 1)
    return round(values[low] + (values[high] - values[low]) * (k - low), 2)


@contextlib.contextmanager
def _driver_settings() -> Iterator[None]:
    """The driver's process for the run: signing secrets (made up when none is configured, since
    the webhook views run right here), mail kept in memory, no kick, and quiet INFO logs."""
    stripe_secret = settings.STRIPE_WEBHOOK_SECRET or f"whsec_loadtest_{secrets.token_hex(16)}"
    webhook_secret = settings.WEBHOOK_SECRET or "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))
    try:
        # WhiteNoise warns, once per handler, that collectstatic never ran: no static file is served here.
        with (
            warnings.catch_warnings(),
            override_settings(
                STRIPE_WEBHOOK_SECRET=stripe_secret,
                WEBHOOK_SECRET=webhook_secret,
                EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
                ORCHESTRATION={**settings.ORCHESTRATION, "KICK": False, "FAULTS": ""},
            ),
        ):
            warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
            mail.outbox = []
            yield
    finally:
        root.setLevel(level)


def run_loadtest(
    options: LoadTestOptions, *, progress: Callable[[int, int], None] = lambda done, total: None
) -> LoadTestReport:
    """Run the load test against the configured database; raises LoadTestRefused before doing
    anything when the target is unsafe, LoadTestAborted when the database stayed away."""
    check_target(options)
    workdir = Path(tempfile.mkdtemp(prefix="loadtest-"))
    (workdir / "media").mkdir()
    with _driver_settings():
        driver = _Driver(options, workdir, progress)
        try:
            report = driver.run()
        except BaseException:
            logger.error("load test stopped; worker logs kept in %s", workdir)
            raise
    if report.ok and not options.keep_artifacts:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        report.artifacts = str(workdir)
    return report
