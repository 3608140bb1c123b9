"""Starting work: queue a task outside any workflow (one, or many in one statement) and start a
workflow run with its tasks. One idempotency key gives one task or one run, however often it is
sent. Re-exported by `orchestration.services`, where callers import it from.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Model
from django.utils import timezone

from orchestration import clock, limits, queue
from orchestration.exceptions import InvalidWorkflow
from orchestration.models import (
    RunStatus,
    Task,
    TaskStatus,
    WorkflowRun,
)
from orchestration.retry import RetryPolicy
from orchestration.transitions import call_status_hook
from orchestration.workflows import Workflow, get_workflow

logger = logging.getLogger("orchestration")


DEFAULT_TIMEOUT_SECONDS = 60.0


def enqueue(
    action: str,
    payload: dict[str, Any] | None = None,
    *,
    priority: int = 0,
    run_after: datetime | None = None,
    idempotency_key: str | None = None,
    retry: RetryPolicy | None = None,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    concurrency_key: str = "",
) -> Task:
    """Queue one task outside any workflow. The same idempotency key returns the first task.

    With `concurrency_key`, the task counts against that key's limit, if it has one.
    """
    # One statement on Postgres (the insert and its NOTIFY); the Task is built from what was
    # stored (its id and times), not loaded back.
    _check_task(action, timeout_seconds, concurrency_key)
    policy = retry or _DEFAULT_RETRY
    retry_dict = _DEFAULT_RETRY_DICT if retry is None else policy.as_dict()
    now = clock.now()
    payload = payload or {}
    key = idempotency_key or None
    inserted = queue.insert_task(
        action=action,
        payload_json=json.dumps(payload),
        priority=priority,
        run_after=run_after or queue.lease_now(now),  # None: due at the database's now
        max_attempts=policy.max_attempts,
        retry_json=_DEFAULT_RETRY_JSON if retry is None else json.dumps(retry_dict),
        timeout_seconds=timeout_seconds,
        idempotency_key=key,
        now=now,
        concurrency_key=concurrency_key,
    )
    if inserted is None:  # the idempotency key exists: the first task
        return Task.objects.get(idempotency_key=idempotency_key)
    return _queued_task(
        {
            "id": inserted.id,
            "run_id": None,
            "step": "",
            "action": action,
            "needs": [],
            "status": TaskStatus.QUEUED,
            "priority": priority,
            "run_after": inserted.run_after,
            "attempt": 0,
            "max_attempts": policy.max_attempts,
            "retry": dict(retry_dict),
            "timeout_seconds": timeout_seconds,
            "lease_token": None,
            "lease_expires_at": None,
            "claimed_by": "",
            "resume": False,
            "input": payload,
            "output": None,
            "cursor": None,
            "progress": None,
            "idempotency_key": key,
            "concurrency_key": concurrency_key,
            "last_error": "",
            "created_at": inserted.created_at,
            "started_at": None,
            "finished_at": None,
        }
    )


_DEFAULT_RETRY = RetryPolicy()
_DEFAULT_RETRY_DICT = _DEFAULT_RETRY.as_dict()
_DEFAULT_RETRY_JSON = json.dumps(_DEFAULT_RETRY_DICT)
_TASK_FIELDS: list[Any] = []


def _queued_task(values: dict[str, Any]) -> Task:
    """A freshly inserted plain task as a model instance, as the ORM would load it (`from_db`,
    positional: a fraction of the cost of `Task(**kwargs)`); a field not named gets its default."""
    if not _TASK_FIELDS:
        _TASK_FIELDS.extend(Task._meta.concrete_fields)
    names = [f.attname for f in _TASK_FIELDS]
    row = [values[f.attname] if f.attname in values else f.get_default() for f in _TASK_FIELDS]
    return Task.from_db(transaction.get_connection().alias, names, row)


def enqueue_many(
    action: str,
    payloads: list[dict[str, Any]],
    *,
    priority: int = 0,
    run_after: datetime | None = None,
    retry: RetryPolicy | None = None,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    concurrency_key: str = "",
) -> list[int]:
    """Queue many tasks of one action in one statement (bulk intake, benchmarks); returns their ids."""
    template = _new_task(action, None, priority, run_after, None, retry, timeout_seconds, concurrency_key)
    return _insert(template, [p or {} for p in payloads], due_now=run_after is None)


def _insert(template: Task, payloads: list[dict[str, Any]], *, due_now: bool) -> list[int]:
    return queue.insert_tasks(
        action=template.action,
        payloads=payloads,
        priority=template.priority,
        # Due now: by the database's clock (None), not this host's.
        run_after=queue.lease_now(template.run_after) if due_now else template.run_after,
        max_attempts=template.max_attempts,
        retry=template.retry,
        timeout_seconds=template.timeout_seconds,
        idempotency_key=template.idempotency_key,
        now=clock.now(),
        concurrency_key=template.concurrency_key,
    )


def _new_task(
    action: str,
    payload: dict[str, Any] | None,
    priority: int,
    run_after: datetime | None,
    idempotency_key: str | None,
    retry: RetryPolicy | None,
    timeout_seconds: float,
    concurrency_key: str = "",
) -> Task:
    _check_task(action, timeout_seconds, concurrency_key)
    policy = retry or RetryPolicy()
    return Task(
        action=action,
        input=payload or {},
        priority=priority,
        run_after=run_after or clock.now(),
        idempotency_key=idempotency_key or None,
        retry=policy.as_dict(),
        max_attempts=policy.max_attempts,
        timeout_seconds=timeout_seconds,
        status=TaskStatus.QUEUED,
        concurrency_key=concurrency_key,
    )


def _check_task(action: str, timeout_seconds: float, concurrency_key: str) -> None:
    if "." not in action:
        raise InvalidWorkflow(f"Action names are 'agent.action', got {action!r}")
    if timeout_seconds <= 0:
        raise InvalidWorkflow(f"timeout_seconds must be positive, got {timeout_seconds}")
    if len(concurrency_key) > limits.MAX_KEY_LENGTH:
        raise InvalidWorkflow(f"concurrency_key is longer than {limits.MAX_KEY_LENGTH} characters: {concurrency_key!r}")


def run_start(
    *,
    workflow: str | Workflow,
    input: dict[str, Any] | None = None,
    subject: Model | None = None,
    idempotency_key: str | None = None,
    version: int | None = None,
    project: Model | None = None,
) -> WorkflowRun:
    """Start a run of `workflow` (latest version unless given). One run per idempotency key.
    `subject` (or `project`, the name the orders use) is what the run is for: any saved instance
    keyed by a UUID, recorded on the run; the engine does not read it."""
    subject = subject if subject is not None else project
    definition = workflow if isinstance(workflow, Workflow) else get_workflow(workflow, version)
    if idempotency_key:
        existing = WorkflowRun.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    now = clock.now()
    run = WorkflowRun(
        id=uuid.uuid4(),
        workflow=definition.name,
        version=definition.version,
        definition=definition.as_dict(),
        subject=subject,
        input=input or {},
        idempotency_key=idempotency_key or None,
        status=RunStatus.RUNNING,
        created_at=timezone.now(),
    )
    # The run, its tasks and (Postgres) the NOTIFY in one statement, in one transaction with the
    # status hook (none: the statement is its own transaction).
    with transaction.atomic() if definition.on_finish else contextlib.nullcontext():
        if not queue.insert_run(run=run, steps=_step_rows(run, definition), now=now):
            existing = WorkflowRun.objects.filter(idempotency_key=idempotency_key).first()
            if existing is None:  # inserted nothing, yet no run holds the key: not a duplicate
                raise IntegrityError(f"Run {run.id} of {definition.name} was not inserted")
            return existing
        run._state.adding = False  # as Model.save leaves it: the row exists
        run._state.db = transaction.get_connection().alias
        call_status_hook(run)
    logger.info("run started", extra={"action": "run_start", "run_id": str(run.id), "workflow": run.workflow})
    return run


def _step_rows(run: WorkflowRun, definition: Workflow) -> list[dict[str, Any]]:
    """The fields of the run's tasks, one per step (those without needs are queued at once)."""
    return [
        {
            "step": step.name,
            "action": step.action,
            "needs": list(step.needs),
            "status": TaskStatus.WAITING if step.needs else TaskStatus.QUEUED,
            "priority": step.priority,
            "max_attempts": step.max_attempts,
            "retry": step.retry.as_dict(),
            "timeout_seconds": step.timeout_seconds,
            "input": run.input,
            "idempotency_key": step_key(run, step.name),
            "concurrency_key": limits.concurrency_key(
                step.concurrency_key, action=step.action, run_id=run.id, project_id=run.subject_id
            ),
        }
        for step in definition.steps
    ]


def step_key(run: WorkflowRun, step: str) -> str:
    return f"{run.id}:{step}:g{run.generation}"
