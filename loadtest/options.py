"""What a load test is asked to do (its options and the fault plan they make), and how it refuses or stops."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from loadtest.faults import FaultPlan
from loadtest.sinks import SINK_ACTION
from orchestration.worker import WorkerOptions
from orders.models import ProjectStatus

ROOT = Path(__file__).resolve().parent.parent
TERMINAL = (ProjectStatus.DELIVERED, ProjectStatus.FAILED, ProjectStatus.CANCELLED)
# Every order the load test creates has a contact address here: that is how the guard tells
# its own projects from real ones.
EMAIL_DOMAIN = "loadtest.example"
# A worker recovers expired leases only when a tick starts, and a busy tick runs this long.
WORKER_TICK_SECONDS = WorkerOptions().tick_seconds


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
    # The grown fault model (loadtest/chaos.py); `--chaos` turns all of it on.
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
