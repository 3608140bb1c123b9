"""The load test: many paid orders through the real workflow, with faults, judged from the database.

The driver creates and pays the orders (some payments sent twice, some of those
concurrently), starts real worker processes whose engine injects faults from a
plan (orchestration/faults.py), and meanwhile sends late and duplicate reports
for attempts that no longer hold their task. Its verdict reads only the
database: orders lost or delivered twice, side effects performed twice, and the
time from a killed worker's attempt to its task running again.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, connections
from django.db.models import Count, Sum

from agents.models import SideEffect
from metrics.models import ErrorGroup
from orchestration import services
from orchestration.faults import FaultPlan
from orchestration.models import AgentRun, AttemptOutcome, Task, TaskStatus
from orders.demo_briefs import DEMO_BRIEFS
from orders.exceptions import PaymentRejected
from orders.models import Project, ProjectStatus
from orders.services import project_create, project_mark_paid

ROOT = Path(__file__).resolve().parent.parent
TERMINAL = (ProjectStatus.DELIVERED, ProjectStatus.FAILED, ProjectStatus.CANCELLED)


@dataclass(frozen=True)
class LoadTestOptions:
    orders: int = 100
    workers: int = 4
    failure_rate: float = 0.2
    kill_rate: float = 0.05
    duplicate_rate: float = 0.2
    hang_rate: float = 0.0
    db_drop_rate: float = 0.0
    seed: int = 1
    lease_seconds: float = 5.0
    timeout_seconds: float = 1800.0


@dataclass
class LoadTestReport:
    orders: int = 0
    delivered: int = 0
    failed_permanent: int = 0
    lost: int = 0
    double_delivered: int = 0
    duplicate_side_effects: int = 0
    duplicate_payments_sent: int = 0
    workflows_started: int = 0
    stale_reports_sent: int = 0
    stale_reports_recorded: int = 0
    attempts_timed_out: int = 0
    p50_s: float | None = None
    p95_s: float | None = None
    max_recovery_s: float | None = None
    errors_recorded: int = 0
    wall_s: float = 0.0
    faults: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.double_delivered == 0 and self.duplicate_side_effects == 0


def run_loadtest(
    options: LoadTestOptions, *, progress: Callable[[int, int], None] = lambda done, total: None
) -> LoadTestReport:
    rng = random.Random(options.seed)
    plan = FaultPlan(
        seed=options.seed,
        failure_rate=options.failure_rate,
        kill_rate=options.kill_rate,
        hang_rate=options.hang_rate,
        db_drop_rate=options.db_drop_rate,
    )
    errors_before = ErrorGroup.objects.aggregate(n=Sum("count"))["n"] or 0
    started = time.monotonic()
    report = LoadTestReport(orders=options.orders, faults=asdict(plan))
    projects = [_new_order(i, options.seed) for i in range(options.orders)]
    report.duplicate_payments_sent = _pay(projects, rng, options.duplicate_rate)
    supervisor = _start_workers(options, plan)
    try:
        report.stale_reports_sent = _watch(projects, options, rng, supervisor, progress)
    finally:
        _stop_workers(supervisor)
    _judge(report, [p.id for p in projects], errors_before)
    report.wall_s = round(time.monotonic() - started, 2)
    return report


def _new_order(index: int, seed: int) -> Project:
    brief = dict(DEMO_BRIEFS[index % len(DEMO_BRIEFS)])
    brief["business_name"] = f"{brief['business_name']} {seed}-{index}"
    return project_create(**brief)


def _pay_once(project: Project, session: str) -> bool:
    try:
        _, _, started = project_mark_paid(
            project_id=project.id,
            checkout_session_id=session,
            amount_cents=settings.ORDER_PRICE_CENTS,
            currency=settings.ORDER_CURRENCY,
        )
        return started
    except PaymentRejected:
        return False
    finally:
        if threading.current_thread() is not threading.main_thread():
            connection.close()


def _pay(projects: list[Project], rng: random.Random, duplicate_rate: float) -> int:
    """Pay every order; a share of payments arrive twice, half of those at the same moment."""
    duplicates = 0
    for project in projects:
        session = f"cs_load_{project.id.hex[:16]}"
        if rng.random() >= duplicate_rate:
            _pay_once(project, session)
            continue
        duplicates += 1
        if rng.random() < 0.5:
            threads = [threading.Thread(target=_pay_once, args=(project, session)) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
        else:
            _pay_once(project, session)
            _pay_once(project, session)
    return duplicates


def _start_workers(options: LoadTestOptions, plan: FaultPlan) -> subprocess.Popen:
    env = dict(os.environ)
    env.update(
        {
            "ENGINE_FAULTS": plan.to_json(),
            "ENGINE_LEASE_SECONDS": str(options.lease_seconds),
            "ENGINE_POLL_INTERVAL_SECONDS": "0.2",
            "DATABASE_URL": _database_url(),
        }
    )
    connections.close_all()
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "run_worker", "--processes", str(options.workers)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _stop_workers(supervisor: subprocess.Popen) -> None:
    if supervisor.poll() is None:
        supervisor.send_signal(signal.SIGTERM)
    try:
        supervisor.wait(timeout=90)
    except subprocess.TimeoutExpired:
        supervisor.kill()
        supervisor.wait(timeout=10)


def _watch(
    projects: list[Project],
    options: LoadTestOptions,
    rng: random.Random,
    supervisor: subprocess.Popen,
    progress: Callable[[int, int], None],
) -> int:
    """Wait for every order to end, sending late and duplicate reports meanwhile."""
    ids = [p.id for p in projects]
    deadline = time.monotonic() + options.timeout_seconds
    chaosed: set[int] = set()
    sent = 0
    while time.monotonic() < deadline:
        done = Project.objects.filter(id__in=ids, status__in=TERMINAL).count()
        progress(done, len(ids))
        if done == len(ids):
            break
        if supervisor.poll() is not None:
            raise RuntimeError(f"The worker supervisor exited with {supervisor.returncode}")
        sent += _send_stale_reports(ids, rng, options.duplicate_rate, chaosed)
        time.sleep(0.5)
    return sent


def _send_stale_reports(ids: list[Any], rng: random.Random, rate: float, chaosed: set[int]) -> int:
    """Late completions from superseded attempts, and second completions of finished tasks."""
    sent = 0
    candidates = Task.objects.filter(run__project_id__in=ids).exclude(id__in=chaosed)
    for task_id, attempt in candidates.filter(attempt__gte=2).values_list("id", "attempt")[:50]:
        chaosed.add(task_id)
        if rng.random() < rate:
            services.task_complete(task_id=task_id, output={"late": True}, attempt=attempt - 1)
            sent += 1
    for task_id, attempt in candidates.filter(status=TaskStatus.SUCCEEDED).values_list("id", "attempt")[:50]:
        chaosed.add(task_id)
        if rng.random() < rate:
            services.task_complete(task_id=task_id, output={"duplicate": True}, attempt=attempt)
            sent += 1
    return sent


def _judge(report: LoadTestReport, ids: list[Any], errors_before: int) -> None:
    projects = Project.objects.filter(id__in=ids).annotate(n_runs=Count("runs"))
    report.delivered = projects.filter(status=ProjectStatus.DELIVERED).count()
    report.failed_permanent = projects.filter(status=ProjectStatus.FAILED).count()
    report.lost = projects.exclude(status__in=TERMINAL).count() + projects.filter(n_runs=0).count()
    report.workflows_started = sum(p.n_runs for p in projects)
    report.double_delivered = (
        SideEffect.objects.filter(project_id__in=ids, kind="email:site_live")
        .values("project_id")
        .annotate(n=Sum("performed"))
        .filter(n__gt=1)
        .count()
    ) + projects.filter(n_runs__gt=1).count()
    report.duplicate_side_effects = SideEffect.objects.filter(project_id__in=ids, performed__gt=1).count()
    attempts = AgentRun.objects.filter(run__project_id__in=ids)
    report.stale_reports_recorded = attempts.filter(outcome=AttemptOutcome.STALE).count()
    report.attempts_timed_out = attempts.filter(outcome=AttemptOutcome.TIMED_OUT).count()
    durations = sorted((p.delivered_at - p.paid_at).total_seconds() for p in projects if p.delivered_at and p.paid_at)
    report.p50_s = _percentile(durations, 50)
    report.p95_s = _percentile(durations, 95)
    report.max_recovery_s = _max_recovery(attempts)
    report.errors_recorded = (ErrorGroup.objects.aggregate(n=Sum("count"))["n"] or 0) - errors_before


def _max_recovery(attempts: Any) -> float | None:
    """From a lost attempt's start (where its worker was killed) to the next attempt's start."""
    lost = attempts.filter(outcome=AttemptOutcome.TIMED_OUT).values_list("task_id", "id", "started_at")
    worst = None
    for task_id, agent_run_id, started_at in lost:
        following = (
            AgentRun.objects.filter(task_id=task_id, id__gt=agent_run_id)
            .exclude(outcome=AttemptOutcome.STALE)
            .order_by("id")
            .values_list("started_at", flat=True)
            .first()
        )
        if following is not None:
            seconds = (following - started_at).total_seconds()
            worst = seconds if worst is None else max(worst, seconds)
    return None if worst is None else round(worst, 2)


def _percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    k = (len(values) - 1) * pct / 100
    low = int(k)
    high = min(low + 1, len(values) - 1)
    return round(values[low] + (values[high] - values[low]) * (k - low), 2)
