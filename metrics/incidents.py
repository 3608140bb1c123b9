"""What staff read when an order fails: the failing step, its cause in words, the order's links.

Used by the engine's failure mail (orchestration.transitions.after_run_finished) and the admin. One
mail per incident: a run fails once per generation (its last attempt), never per attempt; a
failure whose error group staff muted (and whose message did not change since) sends none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.urls import reverse

from metrics.causes import Cause, explain
from metrics.models import ErrorGroup, GroupStatus
from orchestration.models import AgentRun, Task, TaskStatus, WorkflowRun
from orders.selectors import project_of_run


@dataclass(frozen=True)
class Failure:
    step: str
    action: str
    error_type: str
    error: str
    cause: Cause
    task_id: int | None


def run_failure(run: WorkflowRun) -> Failure | None:
    """The step that failed the run (its dead task, else a cancelled one) and its cause."""
    tasks = list(run.tasks.filter(status__in=(TaskStatus.DEAD, TaskStatus.CANCELLED)).order_by("finished_at", "id"))
    dead = [t for t in tasks if t.status == TaskStatus.DEAD] or tasks
    if not dead:
        return None
    task: Task = dead[0]
    last = AgentRun.objects.filter(task=task).exclude(error="").order_by("-started_at", "-id").first()
    error_type = last.error_type if last is not None else ""
    error = (last.error if last is not None else "") or task.last_error
    return Failure(
        step=task.step or task.action,
        action=task.action,
        error_type=error_type,
        error=error,
        cause=explain(error_type=error_type, message=error, action=task.action),
        task_id=task.id,
    )


def admin_url(obj: Any) -> str:
    """An absolute link to an object's admin page: the mail is read outside the site."""
    return settings.SITE_URL + reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def _muted(run: WorkflowRun) -> bool:
    group = ErrorGroup.objects.filter(last_run_id=run.id).order_by("-last_seen").first()
    return group is not None and group.status == GroupStatus.MUTED


def run_failure_mail(run: WorkflowRun, error: str) -> tuple[str, str] | None:
    """(subject, body) of the staff mail for a failed run; None when its error group is muted."""
    if _muted(run):
        return None
    failure = run_failure(run)
    project = project_of_run(run)
    who = project.business_name if project is not None else f"{run.workflow} run {str(run.id)[:8]}"
    if failure is None:
        subject = f"{who}: the order failed"
        cause_lines = [error]
    else:
        subject = f"{who}: step {failure.step} failed: {failure.cause.title}"
        cause_lines = [
            f"Failed step: {failure.step} ({failure.action})",
            f"Cause: {failure.cause.title}",
            f"What to do: {failure.cause.what_to_do}",
            f"Replay: {failure.cause.replay_text}",
            "",
            f"Technical detail: {failure.error_type}: {failure.error}" if failure.error_type else failure.error,
        ]
    lines = [f"{who}'s order failed."]
    if project is not None:
        lines += [f"Customer: {project.contact_email}", f"Order page (fix and replay there): {admin_url(project)}"]
    lines += ["", *cause_lines, "", f"Run timeline: {admin_url(run)}"]
    # Subjects are one line and short: mail clients cut the rest.
    subject = " ".join(subject.split())
    return subject[:180], "\n".join(lines) + "\n"
