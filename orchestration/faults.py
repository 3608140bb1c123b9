"""Fault injection for load tests: off unless ENGINE_FAULTS names a plan.

`manage.py loadtest` starts its workers with a plan (JSON) in the environment;
before each attempt the executor asks the plan whether this attempt should
fail (retryably or for good), hang past its timeout, lose its database
connection, or kill its own process with SIGKILL. Decisions are a pure function
of (seed, task, attempt), so a run can be replayed and its report checked.
Faults hit only attempts before a task's last, so an order dies of injected
faults only when the plan says "permanent".
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from dataclasses import asdict, dataclass
from typing import Any

from django.db import connection

from orchestration.exceptions import PermanentError, RetryableError

KILL, HANG, DROP_DB, RETRYABLE, PERMANENT = "kill", "hang", "drop_db", "retryable", "permanent"
# A hang longer than this is skipped: it would only make the test slower, not harsher.
MAX_HANG_SECONDS = 65.0


@dataclass(frozen=True)
class FaultPlan:
    seed: int = 0
    failure_rate: float = 0.0  # share of attempts that raise
    permanent_share: float = 0.05  # of those, the share that raise a permanent error
    kill_rate: float = 0.0  # share of attempts whose process is SIGKILLed
    hang_rate: float = 0.0  # share of attempts that sleep past their timeout
    db_drop_rate: float = 0.0  # share of attempts whose database connection is cut

    def __post_init__(self) -> None:
        for name in ("failure_rate", "permanent_share", "kill_rate", "hang_rate", "db_drop_rate"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")

    @classmethod
    def from_json(cls, text: str) -> FaultPlan:
        data = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    def decide(self, *, task_id: int, attempt: int, max_attempts: int) -> str | None:
        if attempt >= max_attempts:
            return None
        rng = random.Random(f"{self.seed}:{task_id}:{attempt}")
        roll = rng.random()
        for fault, rate in ((KILL, self.kill_rate), (HANG, self.hang_rate), (DROP_DB, self.db_drop_rate)):
            if roll < rate:
                return fault
            roll -= rate
        if roll < self.failure_rate:
            return PERMANENT if rng.random() < self.permanent_share else RETRYABLE
        return None


def inject(plan: FaultPlan, *, task_id: int, attempt: int, max_attempts: int, timeout_left: float) -> None:
    """Apply the plan's fault for this attempt, if any (called just before the action runs)."""
    fault = plan.decide(task_id=task_id, attempt=attempt, max_attempts=max_attempts)
    if fault == KILL:
        os.kill(os.getpid(), signal.SIGKILL)
    elif fault == HANG and timeout_left + 1 <= MAX_HANG_SECONDS:
        time.sleep(timeout_left + 1)
    elif fault == DROP_DB:
        raw: Any = connection.connection
        if raw is not None:
            raw.close()
    elif fault == RETRYABLE:
        raise RetryableError(f"injected retryable fault (task {task_id}, attempt {attempt})")
    elif fault == PERMANENT:
        raise PermanentError(f"injected permanent fault (task {task_id}, attempt {attempt})")
