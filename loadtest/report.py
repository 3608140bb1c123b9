"""The load test's report: every figure the verdict is judged from, read from the database and the sinks."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any


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
    # Measured from the claim journal and the inbox (loadtest/journal.py, loadtest/callbacks.py).
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


class Reporting:
    """What each part of a driver (its traffic, its verdict) writes its findings through: the
    report, under a lock, since payment threads write too."""

    report: LoadTestReport
    lock: threading.Lock

    def fail(self, message: str) -> None:
        with self.lock:
            if message not in self.report.failures:
                self.report.failures.append(message)

    def count(self, name: str, n: int = 1) -> None:
        with self.lock:
            setattr(self.report, name, getattr(self.report, name) + n)


def percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    k = (len(values) - 1) * pct / 100
    low = int(k)
    high = min(low + 1, len(values) - 1)
    return round(values[low] + (values[high] - values[low]) * (k - low), 2)
