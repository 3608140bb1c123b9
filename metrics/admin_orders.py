"""The order's page as metrics reads it: what went wrong in words, and the latest run drawn.

orders' own admin (orders/admin.py) knows the order, its brief and its acts; the failing step's
cause, whether a replay can help, the retries under way, the payments refused for it and the
run's timeline are metrics' reading of the engine's rows. metrics/admin.py registers this page in
the place of orders' one, as it does for the engine's run page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from metrics.attention import refused_payments
from metrics.causes import explain
from metrics.charts import next_retries, timeline
from metrics.incidents import run_failure
from orchestration import clock
from orchestration.models import AgentRun, RunStatus
from orders.admin import ProjectAdmin
from orders.brief import brief_data, validate_brief
from orders.models import Project
from orders.selectors import project_latest_run


def last_error_type(task: Any) -> str:
    """The exception class of the task's last failed attempt (EffectInProgress, ImproperlyConfigured...):
    its cause may hang on it, not on the message."""
    last = AgentRun.objects.filter(task=task).exclude(error="").order_by("-started_at", "-id").first()
    return last.error_type if last is not None else ""


def problem_of(project: Project) -> dict[str, Any] | None:
    """What the order's page says went wrong, or None when nothing did: the failing step and
    its cause in words, whether replaying now can help (for a bad brief: whether the brief
    is valid now), steps waiting for a retry, and payments refused for this order."""
    run = project_latest_run(project)
    context: dict[str, Any] = {"project": project, "failure": None, "retries": [], "retry_causes": []}
    if run is not None and run.status in (RunStatus.FAILED, RunStatus.CANCELLED):
        failure = run_failure(run)
        context["failure"] = failure
        context["run"] = run
        if failure is not None and failure.cause.code == "invalid_brief":
            still = validate_brief(brief_data(project))
            context["brief_errors"] = still
            context["replay_text"] = (
                "The brief is still invalid: correct it below, save, then replay."
                if still
                else "The brief is valid now: replaying the failed steps can help."
            )
        elif failure is not None:
            context["replay_text"] = failure.cause.replay_text
    elif run is not None and run.status == RunStatus.RUNNING:
        tasks = list(run.tasks.all())
        context["retries"] = next_retries(tasks, now=clock.now())
        waiting = {r["step"] for r in context["retries"]}
        context["retry_causes"] = [
            {"step": t.step, "cause": explain(error_type=last_error_type(t), message=t.last_error, action=t.action)}
            for t in tasks
            if t.step in waiting and t.last_error
        ]
    context["refused_payments"] = refused_payments(project=project)
    if not (context["failure"] or context["retries"] or context["refused_payments"]):
        return None
    return context


class ProjectWithDiagnosisAdmin(ProjectAdmin):
    """orders' page of an order, with what went wrong (when something did) and the latest run's
    timeline above its brief."""

    readonly_fields = (*ProjectAdmin.readonly_fields, "problem", "latest_timeline")

    def diagnosis_fieldsets(self, obj: Any) -> list:
        sets: list = []
        if obj is not None and self._problem(obj) is not None:
            sets.append(("What went wrong", {"fields": ("problem",), "classes": ("problem-set",)}))
        sets.append(("Latest run", {"fields": ("latest_timeline",)}))
        return sets

    def _problem(self, obj: Project) -> dict[str, Any] | None:
        # Read once per page: the admin asks for the fieldsets more than once (building the form,
        # then the page), and the reading is a dozen queries (the failure, retries, payments).
        if not hasattr(obj, "_diagnosis"):
            obj._diagnosis = problem_of(obj)
        return obj._diagnosis

    @admin.display(description="what went wrong")
    def problem(self, obj: Project) -> SafeString | str:
        found = self._problem(obj)
        if found is None:
            return "-"
        return SafeString(render_to_string("admin/orders/project/problem.html", found))

    @admin.display(description="timeline")
    def latest_timeline(self, obj: Project) -> SafeString | str:
        run = project_latest_run(obj)
        return timeline(run) if run is not None else "No run yet (awaiting payment)."
