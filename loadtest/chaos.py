"""The load test's grown fault model (`manage.py loadtest --chaos`): faults the engine was not
built around, so the verdict can find defects nobody told it about.

- Skewed clocks: each worker process runs under libfaketime (Debian's `faketime` package),
  its wall clock offset by a seeded amount up to --clock-skew seconds, ahead on even slots and
  behind on odd ones. The library is preloaded directly rather than through the `faketime`
  wrapper, which forks: the driver must know the worker's own pid to kill it and to read its
  claims.
- Long tasks behind short ones: pairs of plain tasks (a quick one, then one that outlasts the
  lease) committed together, so one claim takes both. Each writes one line to a sink file
  when its action runs; the verdict counts the lines per task.
- Operator acts in flight: cancel, cancel then replay from the failed steps, cancel then
  replay from scratch, and retry one task, on running orders at seeded moments, through the
  service functions the admin calls. After a replay, the driver sends late reports "from the
  previous generation" for the attempt numbers the new one reuses.
- HTTP dispatch with asynchronous answers: some workers dispatch to a real gunicorn server
  (DISPATCH_MODE=http, DISPATCH_RESPOND_ASYNC=1); the server's agents call back through a
  proxy in the driver, which delays, duplicates and reorders the callbacks.
- A backlog of plain tasks with distinct `project:<n>` keys under the prefix limit `project:*=2`.

The verdict's figures added here read the database and the sinks: the sink lines (a plain
task's action run twice, or a plain task lost), the claim journal (loadtest/journal.py:
attempts opened for a run already failed or cancelled) and the webhook inbox (a report known
to be stale when it was sent, applied nonetheless).
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import json
import random
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from django.db import transaction

from loadtest import journal
from loadtest.callbacks import CallbackProxy, free_port, stale_applied
from loadtest.options import ROOT, LoadTestAborted, LoadTestRefused
from loadtest.sinks import SINK_ACTION
from orchestration import dispatch, services, starting
from orchestration.exceptions import IllegalTransition
from orchestration.models import TERMINAL_TASK_STATUSES, OperatorAction, RunStatus, Task, TaskStatus, WorkflowRun
from orchestration.retry import RetryPolicy

if TYPE_CHECKING:
    from loadtest.driver import _Driver

OPERATOR = services.Actor(label="loadtest:operator")
ACTS = ("cancel", "cancel_replay_failed", "cancel_replay_scratch", "retry_task")
REPLAY_VERBS = (
    OperatorAction.Verb.REPLAY_FAILED,
    OperatorAction.Verb.REPLAY_SCRATCH,
    OperatorAction.Verb.REPLAY_FROM_STEP,
    OperatorAction.Verb.RETRY_TASK,
)
PAIR_PRIORITY = 5  # above the orders' steps (but setup's 10): a pair is claimed as soon as it is queued
PAIR_SPACING_SECONDS = 1.5
BACKLOG_PREFIX = "project:lt"
# Below the orders' steps: background work beside them, not a queue they wait at the back of.
BACKLOG_PRIORITY = -1
BACKLOG_LIMIT = "project:*=2"
SINK_FILE, BACKLOG_SINK_FILE = "plain-sink.jsonl", "backlog-sink.jsonl"
ACT_POLL_SECONDS = 0.3  # how often the operator looks at the orders it means to act on
SERVER_START_SECONDS = 60.0


def faketime_library() -> str | None:
    """libfaketime (the multi-threaded build when there is one: workers run a heartbeat thread)."""
    for name in ("libfaketimeMT.so.1", "libfaketime.so.1"):
        found = sorted(glob.glob(f"/usr/lib/*/faketime/{name}") + glob.glob(f"/usr/lib/faketime/{name}"))
        if found:
            return found[0]
    return None


def skew_for(seed: int, slot: int, generation: int, max_skew: float) -> int:
    """A worker process's clock offset in whole seconds: ahead on even slots, behind on odd ones,
    between a quarter of the maximum and the maximum (seeded, new for each restart)."""
    rng = random.Random(f"{seed}:skew:{slot}:{generation}")
    magnitude = round(rng.uniform(max_skew / 4, max_skew))
    return magnitude if slot % 2 == 0 else -magnitude


@dataclass(frozen=True)
class SinkLine:
    task: int
    attempt: int
    pid: int
    t: float  # real time: the line's own stamp less its process's clock offset


def read_sink(path: Path, offsets: dict[int, int]) -> dict[int, list[SinkLine]]:
    """Every execution the sink recorded, by task, in real-time order."""
    runs: dict[int, list[SinkLine]] = defaultdict(list)
    if path.exists():
        for raw in path.read_text(encoding="utf-8").splitlines():
            line = json.loads(raw)
            pid = int(line["pid"])
            runs[int(line["task"])].append(
                SinkLine(line["task"], line["attempt"], pid, line["t"] - offsets.get(pid, 0))
            )
    for lines in runs.values():
        lines.sort(key=lambda s: s.t)
    return runs


def doubled_executions(runs: dict[int, list[SinkLine]], killed_at: dict[int, float]) -> list[int]:
    """Tasks whose action ran more than once, less those the engine had to run again: an
    execution by a process SIGKILLed before the next one began may never have reported."""
    doubled = []
    for task_id, lines in runs.items():
        unexcused = [
            later
            for earlier, later in itertools.pairwise(lines)
            if not (earlier.pid in killed_at and later.t >= killed_at[earlier.pid] - 1.0)
        ]
        if unexcused:
            doubled.append(task_id)
    return doubled


def _attempts(tasks: list[Task]) -> dict[int, int]:
    """The attempt numbers these tasks have used (a replay or retry numbers from 1 again)."""
    return {t.id: t.attempt for t in tasks if t.attempt}


# --- The chaos a driver runs ---------------------------------------------------------------------


@dataclass
class _Act:
    index: int  # the order's index
    kind: str
    after_steps: int  # acts once this many of the run's steps succeeded and one is running
    replay_after_s: float
    done: bool = False
    cancelled_at: float | None = None
    old_attempts: dict[int, int] = field(default_factory=dict)  # by task, when the operator cancelled


class Chaos:
    """The grown fault model, attached to one load-test driver."""

    def __init__(self, driver: _Driver) -> None:
        self.driver = driver
        self.options = driver.options
        o = self.options
        self.sink = driver.workdir / SINK_FILE
        self.backlog_sink = driver.workdir / BACKLOG_SINK_FILE
        self.offsets: dict[int, int] = {}  # pid -> clock offset, for every worker process started
        self.http_slots = {s for s in range(o.workers) if o.http_async and (s % 2 == 1 or o.workers == 1)}
        self.http_names: set[str] = set()
        self.pair_ids: list[int] = []
        self.backlog_ids: list[int] = []
        self.paid_at: dict[int, float] = {}
        rng = random.Random(f"{o.seed}:operator")
        self.acts = [
            _Act(i, rng.choice(ACTS), rng.randint(0, 3), rng.uniform(0.5, 3.0))
            for i in range(o.orders)
            if rng.random() < o.operator_rate
        ]
        self.replayed: list[tuple[Any, dict[int, int], float]] = []  # (run, old attempts by task, when)
        self.late_rng = random.Random(f"{o.seed}:generations")
        self.late_sent: set[tuple[int, int]] = set()
        self.server: subprocess.Popen | None = None
        self.server_out = driver.workdir / "server.out"
        self.proxy: CallbackProxy | None = None
        self.server_url = ""
        self.started = time.monotonic()
        self.acts_checked_at = 0.0

    # -- setup and teardown

    def check(self) -> None:

        if self.options.clock_skew_s and faketime_library() is None:
            raise LoadTestRefused(
                "--clock-skew runs each worker under libfaketime, which is not installed: apt-get install -y faketime"
            )

    def start(self) -> None:
        self.driver.db(lambda: self.drop_backlog(everything=True), what="clearing an earlier run's plain tasks")
        if self.options.http_async:
            self._start_server()
        if self.options.backlog:
            self.driver.db(self._enqueue_backlog, what="queueing the backlog")

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait(timeout=10)

    def _start_server(self) -> None:
        port = free_port()
        self.server_url = f"http://127.0.0.1:{port}"
        self.proxy = CallbackProxy(self, self.server_url + dispatch.CALLBACK_PATH)
        env = self.driver.base_env()
        # The agents call back through the proxy; the engine's webhook throttle is per client, and
        # every callback comes from the proxy's one address here (agents have many in production).
        env.update({"AGENTS_BASE_URL": self.proxy.url, "THROTTLE_WEBHOOK": "100000/min", "LOG_LEVEL": "WARNING"})
        argv = [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}"]
        argv += ["--worker-class", "gthread", "--workers", "1", "--threads", "16", "--timeout", "300"]
        with open(self.server_out, "wb") as out, open(self.driver.workdir / "server.err", "wb") as err:
            self.server = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=err)
        deadline = time.monotonic() + SERVER_START_SECONDS
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.server_url + "/api/health", timeout=2).status_code < 500:
                    return
            if self.server.poll() is not None:
                break
            time.sleep(0.3)

        raise LoadTestAborted(f"The agents' HTTP server did not start (see {self.driver.workdir / 'server.err'})")

    def drop_backlog(self, *, everything: bool = False) -> int:
        """Delete the backlog's tasks still queued (all the load test's plain tasks still queued, with
        `everything`: those an earlier run left behind). Left in the queue, they would be the next
        run's backlog too, and a growing one: on an engine whose limited claim locks every key with
        due work, that exhausts the server's shared lock table, for every database on it."""
        queued = Task.objects.filter(action=SINK_ACTION, run__isnull=True, status=TaskStatus.QUEUED)
        if not everything:
            queued = queued.filter(id__in=self.backlog_ids)
        deleted, _ = queued.delete()
        return deleted

    def _enqueue_backlog(self) -> None:
        if self.backlog_ids:
            return
        tasks = [
            starting._new_task(  # the row enqueue() makes, many keys at once
                SINK_ACTION,
                {"sink": str(self.backlog_sink), "seconds": 0},
                BACKLOG_PRIORITY,
                None,
                None,
                RetryPolicy(max_attempts=3, base_seconds=1),
                60.0,
                f"{BACKLOG_PREFIX}{n}",
            )
            for n in range(self.options.backlog)
        ]
        with transaction.atomic():
            self.backlog_ids = [t.id for t in Task.objects.bulk_create(tasks, batch_size=2000)]
            services.queue.notify_ready()

    # -- the workers

    def worker_env(self, slot: int, generation: int, env: dict[str, str]) -> dict[str, str]:
        o = self.options
        if o.clock_skew_s:
            offset = skew_for(o.seed, slot, generation, o.clock_skew_s)
            env.update(
                {
                    "LD_PRELOAD": faketime_library() or "",
                    "FAKETIME": f"{offset:+d}s",
                    # The monotonic clock is offset too (a constant: harmless). Leaving it alone with
                    # FAKETIME_DONT_FAKE_MONOTONIC makes every sleep fail with EINVAL under libfaketime.
                    "FAKETIME_NO_CACHE": "1",
                }
            )
        if slot in self.http_slots:
            env.update({"DISPATCH_MODE": "http", "DISPATCH_RESPOND_ASYNC": "1", "AGENTS_BASE_URL": self.server_url})
        return env

    def spawned(self, slot: int, generation: int, pid: int, name: str) -> None:
        o = self.options
        self.offsets[pid] = skew_for(o.seed, slot, generation, o.clock_skew_s) if o.clock_skew_s else 0
        if slot in self.http_slots:
            self.http_names.add(name)

    # -- during the run

    def step(self) -> None:
        now = time.monotonic()
        for index in range(len(self.paid_at), self.driver.paid):
            self.paid_at[index] = now
        self._queue_pairs(now)
        if now - self.acts_checked_at >= ACT_POLL_SECONDS:
            self.acts_checked_at = now
            for act in self.acts:
                if not act.done and act.index in self.paid_at:
                    self._act(act, now)
        self._send_generation_reports()

    def _queue_pairs(self, now: float) -> None:
        due = min(self.options.long_tasks, int((now - self.started) / PAIR_SPACING_SECONDS) + 1)
        long_s = self.options.lease_seconds + 3
        while len(self.pair_ids) < 2 * due:
            # One transaction: both visible at once, so the claim that takes the quick one takes the long one.
            with transaction.atomic():
                for seconds in (0, long_s):
                    task = services.enqueue(
                        SINK_ACTION,
                        {"sink": str(self.sink), "seconds": seconds},
                        priority=PAIR_PRIORITY,
                        retry=RetryPolicy(max_attempts=3, base_seconds=1),
                        timeout_seconds=60.0,
                    )
                    self.pair_ids.append(task.id)

    def _act(self, act: _Act, now: float) -> None:
        project = self.driver.projects[act.index]
        run = WorkflowRun.objects.filter(subject_id=project.id).first()
        if run is None:
            return
        if act.cancelled_at is None and not act.done:
            # In flight, at a seeded point of the order's path: a step running (its attempt is what a
            # replay's new generation numbers again), after 0 to 3 steps done.
            steps = Counter(run.tasks.values_list("status", flat=True))
            not_yet = steps[TaskStatus.RUNNING] == 0 or steps[TaskStatus.SUCCEEDED] < act.after_steps
            if not_yet and run.status == RunStatus.RUNNING:
                return
        try:
            if act.kind == "retry_task":
                act.done = True
                task = run.tasks.filter(status__in=[TaskStatus.QUEUED, TaskStatus.DEAD]).order_by("id").first()
                if task is not None:
                    old = _attempts([task])
                    services.task_retry(task=task, actor=OPERATOR)
                    self._superseded(run, old)
            elif act.cancelled_at is None:
                act.old_attempts = _attempts(list(run.tasks.all()))
                services.run_cancel(run=run, actor=OPERATOR, reason="load test: an operator cancels in flight")
                act.cancelled_at = now
                act.done = act.kind == "cancel"
            elif now - act.cancelled_at >= act.replay_after_s:
                act.done = True
                mode = "scratch" if act.kind == "cancel_replay_scratch" else "failed"
                services.run_replay(run=run, actor=OPERATOR, mode=mode)
                self._superseded(run, act.old_attempts)
        except IllegalTransition:
            act.done = True  # the run had finished (or not started) when the operator got to it
        self.driver.count("operator_acts_tried")

    def _superseded(self, run: WorkflowRun, attempts: dict[int, int]) -> None:
        """A replay or retry began a new generation: these attempt numbers of the old one are stale."""
        if attempts:
            self.replayed.append((run.id, attempts, time.monotonic()))

    def _send_generation_reports(self) -> None:
        """Late reports from the generation a replay or retry superseded, for the attempt numbers the
        new generation reuses, sent while it runs them: every one is stale, none may be applied."""
        keep = []
        for run_id, attempts, since in self.replayed:
            rows = Task.objects.filter(id__in=list(attempts)).values_list(
                "id", "status", "attempt", "action", "run__subject_id"
            )
            # Until the new generation is past the old one's attempt numbers on every task (it may
            # wait in a long queue first).
            if any(
                status not in TERMINAL_TASK_STATUSES and attempt <= attempts[tid] for tid, status, attempt, *_ in rows
            ):
                keep.append((run_id, attempts, since))
            for task_id, status, attempt, action, project_id in rows:
                if status != TaskStatus.RUNNING:
                    continue
                if attempt <= attempts[task_id] and (task_id, attempt) not in self.late_sent:
                    self.late_sent.add((task_id, attempt))
                    kind = self.late_rng.choice(("task_started", "task_progress", "task_completed", "task_failed"))
                    self.driver.send_report(task_id, action, project_id, kind=kind, attempt=attempt)
        self.replayed = keep

    def done(self) -> bool:
        """Whether the long-behind-short pairs are all finished (the orders are counted by the driver;
        the backlog is judged on what it did meanwhile, not waited for)."""
        if len(self.pair_ids) < 2 * self.options.long_tasks:
            return False
        unfinished = Task.objects.filter(id__in=self.pair_ids).exclude(
            status__in=[TaskStatus.SUCCEEDED, TaskStatus.DEAD]
        )
        return not unfinished.exists()

    # -- the verdict's new figures

    def judge(self, ids: list[Any]) -> None:

        r = self.driver.report
        killed_at = {}
        for kill in self.driver.kills:
            pid = int(kill.worker.rsplit(":", 1)[1])
            killed_at[pid] = kill.at.timestamp()
        plain = self.pair_ids + self.backlog_ids
        statuses = dict(Task.objects.filter(id__in=plain).values_list("id", "status"))
        backlog, waiting = set(self.backlog_ids), (TaskStatus.QUEUED, TaskStatus.RUNNING)
        backlog_left = sum(statuses.get(t) in (TaskStatus.QUEUED, TaskStatus.RUNNING) for t in self.backlog_ids)
        runs = read_sink(self.sink, self.offsets)
        runs.update(read_sink(self.backlog_sink, self.offsets))
        doubled = doubled_executions(runs, killed_at)
        r.plain_tasks = len(plain)
        r.plain_doubled = len(doubled)
        # A backlog task still queued when the orders are done is not lost: it waits its turn.
        r.plain_lost = sum(
            statuses.get(t) != TaskStatus.SUCCEEDED for t in plain if not (t in backlog and statuses.get(t) in waiting)
        )
        r.backlog_done = sum(statuses.get(t) == TaskStatus.SUCCEEDED for t in self.backlog_ids)
        r.backlog_left = backlog_left
        self.drop_backlog()  # judged: what is still queued goes, or the next run would inherit it
        if doubled:
            r.duplicate_side_effects += len(doubled)
            r.duplicates_by_kind["plain_task"] = len(doubled)
        task_ids = set(plain) | set(Task.objects.filter(run__subject_id__in=ids).values_list("id", flat=True))
        r.stale_applied = stale_applied(self.proxy, task_ids)
        r.callbacks = dict(self.proxy.stats) if self.proxy else {}
        if self.proxy:
            r.callbacks["superseded"] = len(set(self.proxy.superseded))
        run_ids = list(WorkflowRun.objects.filter(subject_id__in=ids).values_list("id", flat=True))
        ended = journal.claims_for_ended_runs(run_ids)
        r.work_for_failed_runs = len(ended)
        r.work_for_ended_runs_by_status = journal.summary(ended)
        r.claims_journaled = journal.claims_recorded()
        r.clock_offsets = sorted(set(self.offsets.values()))
        acts = OperatorAction.objects.filter(actor_label=OPERATOR.label, run__subject_id__in=ids)
        r.operator_acts = dict(Counter(acts.values_list("verb", flat=True)))

    def operator_outcomes(self, ids: list[Any]) -> tuple[set[Any], set[Any]]:
        """(orders an operator acted on, those whose last act was a cancel), from the acts' rows."""
        touched: set[Any] = set()
        last: dict[Any, str] = {}
        rows = OperatorAction.objects.filter(actor_label=OPERATOR.label, run__subject_id__in=ids).order_by("at", "id")
        for project_id, verb in rows.values_list("run__subject_id", "verb"):
            touched.add(project_id)
            last[project_id] = verb
        return touched, {pid for pid, verb in last.items() if verb == OperatorAction.Verb.CANCEL_RUN}

    def generations(self, ids: list[Any]) -> dict[Any, int]:
        return dict(WorkflowRun.objects.filter(subject_id__in=ids).values_list("subject_id", "generation"))

    def http_attempts(self, ids: list[Any]) -> set[tuple[int, int]]:
        """(task, attempt) of the orders' attempts an HTTP worker claimed: the plan is not applied to
        those (faults are injected by the inline executor; the agents' server runs the action clean)."""
        from orchestration.models import AgentRun

        rows = AgentRun.objects.filter(run__subject_id__in=ids, worker__in=list(self.http_names))
        return set(rows.values_list("task_id", "attempt"))
