"""Running claimed tasks: the tick (the unit of work every entry point calls) and
the inline executor (in-process dispatch, with the same semantics as HTTP dispatch).

`tick(budget=...)` recovers expired leases, repairs stalled runs, then claims
and runs due tasks until the budget, `max_tasks` or `should_stop` says stop.
A completed task queues what it made ready in the same transaction, and the
loop claims it at once; the step a completion made ready is even claimed by that
completion's own statement when it is the one this worker would claim next (a
chain runs on one worker with one commit per step): the cron tick is the safety
net, not the heartbeat.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from core.logging import log_context
from core.tracebacks import location_of
from orchestration import clock, dispatch, queue, services
from orchestration.budget import Budget
from orchestration.conf import engine_settings
from orchestration.context import context_of_claim
from orchestration.exceptions import UnknownAction, is_retryable
from orchestration.faults import fault_hook
from orchestration.heartbeat import heartbeater
from orchestration.queue import ClaimedTask
from orchestration.registry import Continue, TaskContext, checked_result, get_action

logger = logging.getLogger("orchestration")


@dataclass
class TickReport:
    recovered: int = 0
    repaired: int = 0
    claimed: int = 0
    succeeded: int = 0
    failed: int = 0
    continued: int = 0
    released: int = 0
    stale: int = 0

    def add(self, other: TickReport) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __str__(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in self.as_dict().items())


def default_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def tick(
    *,
    budget: Budget,
    max_tasks: int | None = None,
    worker: str | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    recover: bool = True,
    run_id: Any = None,
    claim_for: float | None = None,
) -> TickReport:
    """One pass of the engine within `budget`: recover, repair, then claim and run due work
    (of one workflow run only, with `run_id`: the execute route).

    `claim_for` (seconds; a long-running worker's tick): stop claiming after that long, but
    finish the batches already claimed, within `budget`. A worker process has no deadline of
    its own; its tick ends only so that recovery runs again. Ending it with `budget` instead
    handed a claimed batch's unstarted tasks back mid-batch (released, claimed again: two
    attempt rows and two more write transactions each, competing for SQLite's one writer)."""
    worker = worker or default_worker_name()
    report = TickReport()
    if recover:
        report.recovered = services.recover_expired_leases()
        report.repaired = services.repair_stalled_runs()
    batch = engine_settings.CLAIM_BATCH_SIZE
    claiming = budget if claim_for is None else Budget.seconds(claim_for)
    while not should_stop() and not budget.expired() and not claiming.expired():
        limit = batch if max_tasks is None else min(batch, max_tasks - report.claimed)
        if limit <= 0:
            break
        claimed = queue.claim(limit=limit, worker=worker, now=clock.now(), run_id=run_id)
        if not claimed:
            break
        report.claimed += len(claimed)
        handoffs = None if max_tasks is None else max_tasks - report.claimed
        batch_report = _run_batch(claimed, budget=budget, should_stop=should_stop, worker=worker, handoffs=handoffs)
        report.add(batch_report)
        if batch_report.continued:
            break
    return report


# Completions of plain tasks wait at most this long to share one transaction.
COMPLETION_FLUSH_SECONDS = 0.05


def _run_batch(
    claimed: list[ClaimedTask],
    *,
    budget: Budget,
    should_stop: Callable[[], bool],
    worker: str,
    handoffs: int | None = None,
) -> TickReport:
    """Run one claim's tasks in order. Successes of tasks outside any workflow are
    completed together, in one statement, at the end (or every 50 ms). The completion of
    the batch's last task, a workflow step, may hand this worker the step it made ready
    (at most `handoffs` times, None: no limit); it runs next, as part of this batch."""
    report = TickReport()
    pending: dict[int, Any] = {}
    tasks = list(claimed)
    token = claimed[0].lease_token

    def flush() -> None:
        if pending:
            try:
                applied = services.task_complete_batch(outputs=dict(pending), lease_token=token)
            finally:
                # Renewed while they waited (execute: hold_until_completed); written now, or
                # the worker is losing its database and the leases take over.
                for task_id in pending:
                    heartbeater.untrack(task_id, token)
            report.succeeded += applied
            report.stale += len(pending) - applied
            pending.clear()

    try:
        _run_tasks(
            tasks,
            pending=pending,
            flush=flush,
            report=report,
            budget=budget,
            should_stop=should_stop,
            worker=worker,
            handoffs=handoffs,
        )
    finally:
        if pending:  # an error on the way out: stop renewing what nothing will complete now
            for task_id in pending:
                heartbeater.untrack(task_id, token)
    return report


def _run_tasks(
    tasks: list[ClaimedTask],
    *,
    pending: dict[int, Any],
    flush: Callable[[], None],
    report: TickReport,
    budget: Budget,
    should_stop: Callable[[], bool],
    worker: str,
    handoffs: int | None,
) -> None:
    pending_since = 0.0
    index = 0
    while index < len(tasks):
        task = tasks[index]
        # A checkpoint means time ran short: the rest waits for the next invocation. A task
        # that waited behind slow ones for half its lease is handed back unstarted too: run
        # now, its lease could run out mid-attempt and another worker would run it as well.
        if should_stop() or budget.expired() or report.continued or (index and _lease_half_gone(task)):
            flush()
            for unstarted in tasks[index:]:
                report.released += services.task_release(task_id=unstarted.id, lease_token=unstarted.lease_token)
            break
        last = index == len(tasks) - 1
        may_hand_off = last and task.run_id is not None and (handoffs is None or report.claimed < handoffs)
        handed: list[ClaimedTask] = []
        report.add(
            execute(
                task,
                budget=budget,
                deferred=pending if task.run_id is None else None,
                hand_off_to=(worker, handed) if may_hand_off else None,
            )
        )
        if handed:
            tasks.extend(handed)
            report.claimed += len(handed)
        if pending:
            pending_since = pending_since or time.monotonic()
            if time.monotonic() - pending_since >= COMPLETION_FLUSH_SECONDS:
                flush()
                pending_since = 0.0
        index += 1
    flush()


def _lease_half_gone(task: ClaimedTask) -> bool:
    # Measured on this host's clock from its own claim time: the lease's expiry is the
    # database's time, and the two clocks need not agree.
    lease = min(task.timeout_seconds, engine_settings.LEASE_SECONDS)
    return (clock.now() - task.claimed_at).total_seconds() >= lease / 2


def execute(
    task: ClaimedTask,
    *,
    budget: Budget,
    deferred: dict[int, Any] | None = None,
    hand_off_to: tuple[str, list[ClaimedTask]] | None = None,
) -> TickReport:
    """Run one claimed attempt in this process and report its outcome to the engine.

    With `deferred`, a success is put there for the caller to complete in a batch. With
    `hand_off_to` (worker, list), a success of a workflow step may claim the step it made
    ready for that worker (services.task_complete_and_claim_next) and append it to the list.
    In HTTP dispatch mode the agent's route runs it instead (orchestration/dispatch.py).
    Every log line meanwhile, the engine's, the action's and its providers', carries the
    attempt's ids (core/logging.py).
    """
    project_id = task.input.get("project_id") if isinstance(task.input, dict) else None
    with log_context(task_id=task.id, attempt=task.attempt, run_id=task.run_id, project_id=project_id):
        return _execute(task, budget=budget, deferred=deferred, hand_off_to=hand_off_to)


def _execute(
    task: ClaimedTask,
    *,
    budget: Budget,
    deferred: dict[int, Any] | None,
    hand_off_to: tuple[str, list[ClaimedTask]] | None = None,
) -> TickReport:
    outcome = TickReport()
    if engine_settings.DISPATCH_MODE == "http":
        result = dispatch.dispatch(task, budget=budget)
        if result != dispatch.DISPATCHED:  # sent and called back later: counted when it reports
            setattr(outcome, result, 1)
        return outcome
    try:
        func = get_action(task.action)
    except UnknownAction as exc:
        _report_failure(task, exc, retryable=False, outcome=outcome)
        return outcome
    ctx = _context(task, budget)
    heartbeater.track(task.id, task.lease_token, task.timeout_seconds)
    try:
        inject = fault_hook()  # None unless a load test's ENGINE_FAULTS is set
        if inject is not None:
            inject(
                task_id=task.id,
                attempt=task.attempt,
                max_attempts=task.max_attempts,
                timeout_left=ctx.time_left(),
            )
        result = checked_result(func(ctx))
    except Exception as exc:  # noqa: BLE001 - classified by is_retryable, retried only within the policy
        _report_failure(task, exc, retryable=is_retryable(exc), outcome=outcome)
    else:
        if deferred is not None and not isinstance(result, Continue):
            # Done, but completed with its batch (_run_batch): the lease must outlive the wait
            # behind the batch's next tasks, or another worker recovers it and runs it again.
            heartbeater.hold_until_completed(task.id, task.lease_token)
            deferred[task.id] = result
            return outcome
        heartbeater.untrack(task.id, task.lease_token)
        if isinstance(result, Continue):
            applied = services.task_continue(
                task_id=task.id, cursor=result.cursor, progress=result.progress, lease_token=task.lease_token
            )
            outcome.continued += applied
        elif hand_off_to is not None and not budget.expired():
            worker, handed = hand_off_to
            applied, following = services.task_complete_and_claim_next(
                task_id=task.id, output=result, lease_token=task.lease_token, run_id=task.run_id, worker=worker
            )
            if following is not None:
                handed.append(following)
            outcome.succeeded += applied
        else:
            applied = services.task_complete(
                task_id=task.id, output=result, lease_token=task.lease_token, run_id=task.run_id
            )
            outcome.succeeded += applied
        outcome.stale += not applied
    return outcome


def _report_failure(task: ClaimedTask, exc: BaseException, *, retryable: bool, outcome: TickReport) -> None:
    heartbeater.untrack(task.id, task.lease_token)
    applied = services.task_fail(
        task_id=task.id,
        lease_token=task.lease_token,
        error=str(exc) or type(exc).__name__,
        error_type=type(exc).__name__,
        traceback="".join(traceback.format_exception(exc)),
        location=location_of(exc),
        retryable=retryable,
        retry_after=getattr(exc, "retry_after", None),  # EffectInProgress: after the other's hold
    )
    outcome.failed += applied
    outcome.stale += not applied


def _context(task: ClaimedTask, budget: Budget) -> TaskContext:
    # The step's timeout bounds the attempt; the (shorter) lease is renewed meanwhile.
    timeout_left = task.timeout_seconds - (clock.now() - task.claimed_at).total_seconds()
    ctx = context_of_claim(task, deadline=min(budget.deadline, clock.monotonic() + timeout_left))

    def heartbeat() -> bool:
        lease = min(task.timeout_seconds, engine_settings.LEASE_SECONDS)
        return services.task_heartbeat(task_id=task.id, lease_token=task.lease_token, extend_seconds=lease) is not None

    def report_progress(progress: dict[str, Any]) -> None:
        services.task_progress(task_id=task.id, lease_token=task.lease_token, progress=progress)

    ctx.heartbeat = heartbeat
    ctx.report_progress = report_progress
    return ctx
