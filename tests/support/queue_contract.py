"""What the queue's contract suite shares (tests/integration/orchestration/test_queue_contract.py and
tests/integration/orchestration/test_queue_contract_reports.py): the two implementations, and rows to run them on.

`queue_pg` runs only on PostgreSQL (its statements are PostgreSQL's). `queue_portable` is the
ORM, so it runs on SQLite and on PostgreSQL alike: one test at a time, its atomicity (SQLite's
`BEGIN IMMEDIATE` single writer) is never what is tested here; concurrent claimers are the
business of tests/integration/orchestration/test_queue_postgres.py and
tests/integration/orchestration/test_claim_limits_postgres.py.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any

import pytest

from orchestration.models import Task, TaskStatus, WorkflowRun

postgres_only = pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").split(":", 1)[0] not in {"postgres", "postgresql"},
    reason="queue_pg runs PostgreSQL's statements (orchestration/queries.sql): set DATABASE_URL to PostgreSQL",
)

IMPLEMENTATIONS = [
    pytest.param("queue_pg", marks=postgres_only, id="queue_pg"),
    pytest.param("queue_portable", id="queue_portable"),
]


def load(name: str) -> ModuleType:
    return importlib.import_module(f"orchestration.{name}")


def plain(now: Any, **fields: Any) -> Task:
    """A queued plain task, due now unless told."""
    values = {"action": "engine.noop", "run_after": now, "status": TaskStatus.QUEUED, "timeout_seconds": 30.0}
    return Task.objects.create(**{**values, **fields})


def a_run(now: Any, steps: dict[str, list[str]], **run_fields: Any) -> tuple[WorkflowRun, dict[str, Task]]:
    """A running run with one task per step (name -> needs): queued if it needs nothing, else waiting."""
    run = WorkflowRun.objects.create(workflow="contract", version=1, definition={}, input={}, **run_fields)
    tasks = {
        name: Task.objects.create(
            run=run,
            step=name,
            action="engine.noop",
            needs=needs,
            run_after=now,
            status=TaskStatus.WAITING if needs else TaskStatus.QUEUED,
        )
        for name, needs in steps.items()
    }
    return run, tasks


def claimed_ids(impl: ModuleType, now: Any, limit: int = 10, **kwargs: Any) -> list[int]:
    return [t.id for t in impl.claim(limit=limit, worker="w", now=now, **kwargs)]


def running(impl: ModuleType, now: Any, task: Task) -> Any:
    """`task` claimed alone (the only one due): its ClaimedTask."""
    [claimed] = impl.claim(limit=1, worker="w", now=now)
    assert claimed.id == task.id
    return claimed


def complete(impl: ModuleType, claimed: Any, now: Any, output: Any = None, **fence: Any) -> Any:
    fence = fence or {"lease_token": claimed.lease_token}
    return impl.complete_step(
        task_id=claimed.id, run_id=claimed.run_id, output=output or {"done": claimed.id}, now=now, **fence
    )
