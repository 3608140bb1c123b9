"""What metrics does when the engine announces a failure (orchestration.signals).

Connected in MetricsConfig.ready. Each runs inside the engine's transaction: the error record
commits with the failed attempt; staff's mail leaves once it is on record (on_commit).
"""

from __future__ import annotations

from typing import Any

from django.core.mail import mail_admins
from django.db import transaction

from metrics.errors import record_error
from metrics.incidents import run_failure_mail
from orchestration import signals
from orchestration.models import RunStatus, Task, WorkflowRun
from orders.selectors import project_id_of_run


def record_failed_attempt(*, task: Task, run: WorkflowRun | None, **failure: Any) -> None:
    """Every failed attempt counts in its error group (the errors page, the digest)."""
    record_error(
        error_type=failure["error_type"],
        location=failure["location"],
        message=failure["message"],
        traceback=failure["traceback"],
        project_id=project_id_of_run(run) if run else None,
        run_id=run.id if run else None,
        task_id=task.id,
    )


def mail_staff_of_failed_run(*, run: WorkflowRun, status: str, error: str, **_: Any) -> None:
    """Staff hear of a run that failed for good: the business, the step, the cause in words
    (nothing when its error group is muted)."""
    if status != RunStatus.FAILED:
        return
    mail = run_failure_mail(run, error)
    if mail is not None:
        _mail_staff_on_commit(*mail)


def mail_staff_of_dead_task(*, task: Task, error: str, **_: Any) -> None:
    """A task outside any run that failed for good: no order page shows it, so staff are told."""
    _mail_staff_on_commit(
        f"Task {task.action} #{task.id} failed for good",
        f"{error}\n\nAction: {task.action}\nTask: {task.id}\nAttempts: {task.attempt}\n",
    )


def _mail_staff_on_commit(subject: str, body: str) -> None:
    transaction.on_commit(lambda: mail_admins(subject, body, fail_silently=True))


def connect() -> None:
    # dispatch_uid: connected once, however often ready() runs (tests reload apps).
    signals.attempt_failed.connect(record_failed_attempt, sender=Task, dispatch_uid="metrics.record_failed_attempt")
    signals.run_finished.connect(mail_staff_of_failed_run, sender=WorkflowRun, dispatch_uid="metrics.failed_run_mail")
    signals.task_dead.connect(mail_staff_of_dead_task, sender=Task, dispatch_uid="metrics.dead_task_mail")
