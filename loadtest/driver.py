"""The load test: many paid orders through the real workflow, with faults, judged from the database.

The driver creates the orders, starts N worker processes (each its own
`manage.py run_worker`, whose engine injects faults from a deterministic plan:
loadtest/faults.py), then pays the orders over time through the real
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

`--chaos` (loadtest/chaos.py) grows the fault model beyond what the engine was built
around: skewed worker clocks, long tasks behind short ones, operator acts in flight, HTTP
dispatch with late and duplicated callbacks, a prefix-limited backlog; and the verdict counts
attempts opened for runs already over (loadtest/journal.py) and stale reports applied.

The parts: options.py (what a run is asked), guards.py (scratch databases only), this driver
(orders, workers, kills, restarts), traffic.py (payments and callbacks into the back office),
sinks.py (where side effects land), expectations.py (what the plan dooms), verdict.py and
report.py (the judgement), chaos.py and callbacks.py (the grown fault model).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import logging
import math
import os
import random
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
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from django import db
from django.conf import settings
from django.core import mail
from django.db import connection, connections
from django.test.utils import override_settings

from loadtest import journal, sinks
from loadtest.chaos import BACKLOG_LIMIT, Chaos
from loadtest.faults import KILL, drop_connection
from loadtest.guards import check_target, database_url, restart_command
from loadtest.options import EMAIL_DOMAIN, ROOT, TERMINAL, LoadTestAborted, LoadTestOptions
from loadtest.report import LoadTestReport
from loadtest.sinks import JournalingStorage
from loadtest.traffic import Traffic, in_process_client, request_host
from loadtest.verdict import Judging, Kill, first_invocation
from orchestration import clock
from orchestration.conf import engine_settings
from orchestration.models import Task, TaskStatus, WorkflowRun
from orders.demo_briefs import DEMO_BRIEFS
from orders.models import Project
from orders.services import project_create

DB_RETRY_SECONDS = 120.0  # how long the driver keeps reconnecting before it gives up
LOOP_SECONDS = 0.1

# The name it logged under before it moved out of orders: log filters keep matching.
logger = logging.getLogger("orders.loadtest")
T = TypeVar("T")


@dataclass
class _Worker:
    slot: int
    proc: subprocess.Popen
    name: str  # how the worker names itself in claims and agent runs: host:pid
    stdout: Path  # Django's console mail backend writes the worker's emails here
    stderr: Path
    killed: bool = False


class _Driver(Traffic, Judging):
    """One load-test run: its orders, its worker processes, its faults, and (Judging) its verdict."""

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
        self.kills: list[Kill] = []
        self.projects: list[Project] = []
        self.paid = 0  # orders whose payment has been sent
        self.payment_delivered: dict[Any, bool] = {}
        self.run_ids: list[Any] = []
        self.runs_known_for = 0
        self.seen_for_reports: set[int] = set()
        self.report_queue: list[tuple[int, str, int, str, Any]] = []
        self.reports_since = clock.now()
        self.drops = random.Random(f"{options.seed}:drops")
        self.client = in_process_client()
        self.host = request_host()
        self.started = time.monotonic()
        self.began_at = clock.now()
        self.token = secrets.token_hex(3)
        self.chaos = Chaos(self) if options.chaos else None
        self.report.chaos = options.chaos

    # -- helpers

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
        self.db(journal.install, what="installing the claim journal")
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
            self.db(journal.uninstall, what="dropping the claim journal")
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
            # The orders are done and the chaos too; the run ends once no attempt a killed worker
            # held waits for its lease recovery.
            if (
                self.paid == total
                and terminal == total
                and (self.chaos is None or self.db(self.chaos.done, what="checking the chaos"))
                and not self.db(self._recoveries_pending, what="waiting for the lease recoveries")
            ):
                return
            if time.monotonic() > deadline:
                if terminal < total:
                    waited = f"{self.options.timeout_seconds:.0f} s"
                    self.fail(f"{total - terminal} order(s) still unfinished after {waited}")
                return  # what is still pending, the verdict judges: a recovery never made, a pair unfinished
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
        modules = [*engine_settings.ACTION_MODULES, sinks.__name__]
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
                "DEFAULT_FILE_STORAGE_BACKEND": f"{JournalingStorage.__module__}.{JournalingStorage.__qualname__}",
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
            if fault == KILL and not worker.killed and first_invocation(task_id, attempt):
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
        self.kills.append(Kill(at=at, worker=worker.name, by_driver=by_driver))

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

    def _learn_runs(self) -> None:
        if self.runs_known_for < self.paid:
            ids = [p.id for p in self.projects[self.runs_known_for : self.paid]]
            self.run_ids += list(WorkflowRun.objects.filter(subject_id__in=ids).values_list("id", flat=True))
            self.runs_known_for = self.paid

    # -- late, duplicate and reordered agent callbacks, through the real callback route

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


def _connection_lost(exc: db.Error) -> bool:
    """Whether the error says the connection is gone (worth reconnecting), not that the query is wrong."""
    if isinstance(exc, db.OperationalError | db.InterfaceError):
        return True
    # SQLite reports a handle closed under it as a programming error.
    return isinstance(exc, db.ProgrammingError) and "closed database" in str(exc)


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
        # override_settings, a test utility, on purpose: the load test is a tool, and the webhook
        # views it posts to run in this very process (traffic.in_process_client), so the signing
        # secrets they check and the mail backend they use are this process's settings, for the run only.
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
