"""The load test's verdict, from the database and the sinks, never from counters of the driver's own:
the plan's faults against what happened, side effects counted where they landed, and the time
from each SIGKILL to the killed task's next claim."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.core import mail
from django.db.models import Count, Q

from loadtest import journal
from loadtest.callbacks import stale_applied
from loadtest.expectations import TaskFacts, count_lost, doomed_projects
from loadtest.faults import FAULTS, HANG, KILL, FaultPlan
from loadtest.options import TERMINAL
from loadtest.report import LoadTestReport, Reporting, percentile
from loadtest.sinks import console_messages, published_slugs
from metrics.models import ErrorGroup
from orchestration.models import AgentRun, AttemptOutcome, RunStatus, SideEffect, Task, TaskStatus, WorkflowRun
from orders.mail import SUBJECTS
from orders.models import Project, ProjectStatus
from orders.services import ORDER_WORKFLOW_NAME

if TYPE_CHECKING:
    from loadtest.chaos import Chaos

_STAFF_SUBJECT = re.compile(r"^Workflow \S+ failed \(run (?P<run>[0-9a-f-]{36})\)$")
# What every delivered order did exactly once, as the sinks count it.
_SINK_KINDS = ("email:payment_received", "email:site_live", "deploy", "campaign_csv", "delivered")
FAILED_OUTCOMES = (AttemptOutcome.RETRY, AttemptOutcome.FAILED, AttemptOutcome.TIMED_OUT)


@dataclass(frozen=True)
class Kill:
    """A SIGKILL of a worker: when, whom, and whether the driver sent it (or the worker, tired of waiting)."""

    at: datetime
    worker: str
    by_driver: bool


def _subject(kind: str, project: dict[str, Any]) -> str:
    """The subject orders.mail gives this kind of email for this project."""
    subject = SUBJECTS[kind][project["language"]].format(business_name=project["business_name"])
    return " ".join(subject.split())


def _totals(effects: Counter[tuple[Any, str]]) -> Counter[str]:
    totals: Counter[str] = Counter()
    for (_, kind), n in effects.items():
        totals[kind] += n
    return totals


class Judging(Reporting):
    """The driver's verdict (a part of load-test drivers: it reads what the run left behind)."""

    plan: FaultPlan
    projects: list[Project]
    payment_delivered: dict[Any, bool]
    kills: list[Kill]
    retired: list[Any]  # the driver's stopped workers, whose stdout holds the emails they sent
    media: Path
    chaos: Chaos | None
    began_at: datetime

    # -- the verdict, from the database and the sinks

    def _judge(self) -> None:
        r = self.report
        ids = [p.id for p in self.projects]
        projects = {row["id"]: row for row in Project.objects.filter(id__in=ids).values()}
        runs = dict(
            WorkflowRun.objects.filter(subject_id__in=ids, workflow=ORDER_WORKFLOW_NAME)
            .values("subject_id")
            .annotate(n=Count("id"))
            .values_list("subject_id", "n")
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
            Task.objects.filter(run__subject_id__in=ids).values_list(
                "id", "run__subject_id", "step", "max_attempts", "timeout_seconds"
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
            run_ids = list(WorkflowRun.objects.filter(subject_id__in=ids).values_list("id", flat=True))
            ended = journal.claims_for_ended_runs(run_ids)
            r.work_for_failed_runs = len(ended)
            r.work_for_ended_runs_by_status = journal.summary(ended)
            r.claims_journaled = journal.claims_recorded()
            r.stale_applied = stale_applied(None, {t[0] for t in tasks})
        durations = sorted(
            (row["delivered_at"] - row["paid_at"]).total_seconds()
            for row in projects.values()
            if row["delivered_at"] and row["paid_at"]
        )
        r.p50_s, r.p95_s = percentile(durations, 50), percentile(durations, 95)
        agent_runs = AgentRun.objects.filter(run__subject_id__in=ids)
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
        ledger = SideEffect.objects.filter(project__id__in=list(projects), performed__gt=1)
        for pid, kind, key in ledger.values_list("subject_id", "kind", "key"):
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
            for run_id, pid in WorkflowRun.objects.filter(subject_id__in=list(projects)).values_list("id", "subject_id")
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

    def _recoveries_pending(self) -> bool:
        """Whether an attempt a killed worker held is still open. Its lease lapses within a lease of
        the kill and the next worker's tick recovers it: a run that ended before then would be judged
        as if the recovery had failed when it had no time to happen."""
        return any(h.finished_at is None for kill in self.kills for h in _held_at(kill))

    def _judge_recovery(self, tasks: list[tuple]) -> None:
        r = self.report
        r.kills = len(self.kills)
        r.kills_without_driver = sum(not k.by_driver for k in self.kills)
        worst = worst_requeue = None
        backlog = set(self.chaos.backlog_ids) if self.chaos else set()
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
                    # run), if the recovery spent its last attempt (the task is dead, for good), or if
                    # it is a backlog task queued again behind thousands (the backlog is not waited for).
                    waits_its_turn = h.task_id in backlog and _queued(h.task_id)
                    r.unrecovered_kills += not (waits_its_turn or _nothing_more_to_run(h.task_id))
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


def _held_at(kill: Kill) -> list[_Held]:
    """The attempts the killed worker had open."""
    rows = AgentRun.objects.filter(worker=kill.worker, started_at__lte=kill.at).filter(
        Q(finished_at__isnull=True) | Q(finished_at__gte=kill.at)
    )
    fields = ("id", "task_id", "attempt", "outcome", "finished_at")
    return [_Held(*row) for row in rows.exclude(outcome=AttemptOutcome.STALE).values_list(*fields)]


def _queued(task_id: int) -> bool:
    return Task.objects.filter(id=task_id, status=TaskStatus.QUEUED).exists()


def _nothing_more_to_run(task_id: int) -> bool:
    """Whether the engine rightly runs this task no more: dead or cancelled, or its run over."""
    row = Task.objects.filter(id=task_id).values("status", "run__status").first() or {}
    return row.get("status") in (TaskStatus.DEAD, TaskStatus.CANCELLED) or row.get("run__status") in (
        RunStatus.FAILED,
        RunStatus.CANCELLED,
    )


def first_invocation(task_id: int, attempt: int) -> bool:
    """Whether the running invocation of this attempt is its first (a continuation is never faulted)."""
    return not AgentRun.objects.filter(task_id=task_id, attempt=attempt, outcome=AttemptOutcome.CONTINUED).exists()


def _attempt_outcomes(project_ids: list[Any]) -> dict[tuple[int, int], str]:
    """How each attempt of these projects' tasks ended: the outcome of its last invocation."""
    rows = (
        AgentRun.objects.filter(run__subject_id__in=project_ids)
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
