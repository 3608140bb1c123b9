"""The engine in the admin: runs with their timeline, tasks, attempts and operator acts.

Every operator act goes through `orchestration.services` (replay, retry, cancel), is
confirmed on a page that shows what it will touch, is recorded with the staff user
(OperatorAction through Actor.of_user, plus Django's LogEntry), and reports back per
object: a refusal (IllegalTransition) changes nothing and says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString
from django.utils.text import capfirst

from core.admin import ActPermissionMixin, ReadOnlyMixin, admin_link, badge, pretty_json
from orchestration import admin_ledger, clock, services
from orchestration.exceptions import OrchestrationError
from orchestration.models import AgentRun, OperatorAction, Task, TaskStatus, WorkflowRun

__all__ = ["admin_ledger"]  # the ledger's admin registers with the engine's (autodiscovery imports this module)

UNFINISHED = (TaskStatus.WAITING, TaskStatus.QUEUED, TaskStatus.RUNNING)


# --- Confirmed acts ----------------------------------------------------------------------

Plan = tuple[list[str], str]  # (what it will touch: steps, or what it will do; refusal reason or "")


@dataclass(frozen=True)
class Done:
    """What an act did: the change message kept in Django's history, and how to report it.

    A level other than SUCCESS is also reported on its own line (an event rejected again,
    say): the summary alone would hide that the act did not fix it.
    """

    message: str
    level: int = messages.SUCCESS


def confirmed_act(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    title: str,
    plan: Callable[[Any], Plan],
    act: Callable[[Any], str | Done],
    step_choices: list[str] | None = None,
    noun: str | None = "step",
    column: str = "steps it will reset or run",
) -> TemplateResponse | None:
    """Show what the act will touch; act on POST with confirm=yes, reporting per object.

    Each object the act changed gets a LogEntry with the staff user (the engine's own
    services record the OperatorAction); a refusal (OrchestrationError) changes nothing
    and is reported with its reason. `noun` names the plan's items in the summary
    ("2 steps"); None leaves the count out.
    """
    objects = list(queryset)
    back = safe_next(request)
    if request.POST.get("confirm") != "yes":
        rows = []
        for obj in objects:
            steps, refusal = plan(obj)
            rows.append(
                {
                    "obj": obj,
                    "link": admin_link(obj, object_label(obj)),
                    "status": obj.status,
                    "steps": steps,
                    "refusal": refusal,
                }
            )
        accepted = [r for r in rows if not r["refusal"]]
        steps_total = sum(len(r["steps"]) for r in accepted)
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "opts": modeladmin.model._meta,
            "rows": rows,
            "accepted": len(accepted),
            "items_text": f"{steps_total} {noun}{'s' if steps_total != 1 else ''}" if noun else "",
            "column": column,
            "refused": len(rows) - len(accepted),
            "action": request.POST.get("action", ""),
            "checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "step_choices": step_choices,
            "from_step": request.POST.get("from_step", ""),
            "next": back or "",
        }
        return TemplateResponse(request, "admin/orchestration/confirm_action.html", context)
    done = []
    for obj in objects:
        label = object_label(obj)
        try:
            result = act(obj)
        except OrchestrationError as exc:
            modeladmin.message_user(request, f"{label}: refused, nothing changed. {exc}", messages.ERROR)
            continue
        outcome = result if isinstance(result, Done) else Done(result)
        modeladmin.log_change(request, obj, outcome.message)
        if outcome.level != messages.SUCCESS:
            modeladmin.message_user(request, f"{label}: {outcome.message}", outcome.level)
        done.append(str(obj.pk))
    if done:
        names = ", ".join(object_label(obj, with_status=False) for obj in objects if str(obj.pk) in done)
        modeladmin.message_user(request, f"{title}: done for {len(done)} of {len(objects)} ({names}).")
    # Back to the page the act was started from (a project's or a run's page), not the list.
    return HttpResponseRedirect(back) if back else None


def safe_next(request: HttpRequest) -> str | None:
    """The `next` page an act returns to, if it is one of ours (never an open redirect)."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return None


def run_label(run: WorkflowRun, *, with_status: bool = True) -> str:
    """A run as staff name it: what it is for (its subject: the customer's business), not the
    workflow's version."""
    status = f" {run.get_status_display().lower()}" if with_status else ""
    if run.subject_id and run.subject is not None:
        return f"{run.subject}: {run.workflow}{status} (run {str(run.id)[:8]})"
    return f"{run.workflow} run {str(run.id)[:8]}{status}"


def object_label(obj: Model, *, with_status: bool = True) -> str:
    if isinstance(obj, WorkflowRun):
        return run_label(obj, with_status=with_status)
    return f"{capfirst(obj._meta.verbose_name)} {obj.pk}"


def replay_plan(run: WorkflowRun, mode: str, from_step: str | None = None) -> Plan:
    if refusal := services.run_can_replay(run, mode=mode):
        return [], refusal
    try:
        return services.replay_plan(run, mode=mode, from_step=from_step), ""
    except OrchestrationError as exc:
        return [], str(exc)


# --- Workflow runs ------------------------------------------------------------------------

RUN_BUTTONS = (
    ("replay_failed", "Replay failed steps"),
    ("replay_from_step", "Replay from a step"),
    ("replay_scratch", "Replay from scratch"),
    ("cancel_runs", "Cancel run"),
)


def run_acts(run: WorkflowRun) -> list[tuple[str, str]]:
    """The acts (changelist action, label) this run's state allows: a button that can only be
    refused is noise. The run's page and its project's page both show them."""
    refusals = {
        "replay_failed": services.run_can_replay(run, mode="failed"),
        "replay_from_step": services.run_can_replay(run, mode="step"),
        "replay_scratch": services.run_can_replay(run, mode="scratch"),
        "cancel_runs": services.run_can_cancel(run),
    }
    return [(name, label) for name, label in RUN_BUTTONS if refusals[name] is None]


class AgentFilter(admin.SimpleListFilter):
    title = "stuck or failed at agent"
    parameter_name = "agent"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        actions = Task.objects.exclude(run=None).values_list("action", flat=True).distinct()
        agents = sorted({a.split(".", 1)[0] for a in actions})
        return [(a, a) for a in agents]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if not self.value():
            return queryset
        at_agent = Q(tasks__action__startswith=f"{self.value()}.") & Q(
            tasks__status__in=[TaskStatus.DEAD, TaskStatus.RUNNING, TaskStatus.QUEUED]
        )
        return queryset.filter(at_agent).distinct()


class CreatedWithinFilter(admin.SimpleListFilter):
    title = "started within"
    parameter_name = "within"
    SPANS = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("1h", "the last hour"), ("24h", "the last 24 hours"), ("7d", "the last 7 days")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        span = self.SPANS.get(self.value() or "")
        return queryset.filter(created_at__gte=clock.now() - span) if span else queryset


# A replay or a cancel changes the run and its tasks: the same permissions as the API's (gateway.permissions).
RUN_ACT_PERMISSIONS = ("orchestration.change_workflowrun", "orchestration.change_task")


def may_act_on_runs(request: HttpRequest) -> bool:
    """Whether the user may replay or cancel runs, for the pages that show those buttons."""
    return request.user.has_perms(RUN_ACT_PERMISSIONS)


@admin.register(WorkflowRun)
class WorkflowRunAdmin(ActPermissionMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("short_id", "workflow", "subject_link", "status_badge", "progress", "created_at", "duration")
    list_filter = ("status", AgentFilter, CreatedWithinFilter, "workflow")
    # An app above adds its subject's fields (metrics/admin.py: the order's business, email, slug).
    search_fields: tuple[str, ...] = ("=id", "error")
    date_hierarchy = "created_at"
    actions = ("replay_failed", "replay_scratch", "replay_from_step", "cancel_runs")
    fields = ("status_badge", "workflow", "version", "subject_link", "generation", "created_at", "finished_at")
    readonly_fields = (*fields, "error", "tasks_table", "acts", "input_block")
    # Drawings of the run above the error, added by the apps built on the engine (metrics draws
    # the attempts on a time axis with each failure's cause in words: metrics/admin.py).
    timeline_fields: tuple[str, ...] = ()
    change_form_template = "admin/orchestration/workflowrun/change_form.html"
    act_permissions = RUN_ACT_PERMISSIONS

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list:
        return [
            (None, {"fields": self.fields}),
            ("Timeline", {"fields": (*self.timeline_fields, "error")}),
            ("Steps", {"fields": ("tasks_table",)}),
            ("Operator acts and input", {"fields": ("acts", "input_block"), "classes": ("collapse",)}),
        ]

    def run_buttons(self, run: WorkflowRun) -> list[tuple[str, str]]:
        return run_acts(run)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> Any:
        # Buttons that open the same confirmation page as the changelist's actions.
        run = self.get_object(request, object_id)
        acts = self.run_buttons(run) if run is not None and self.has_act_permission(request) else []
        extra = {**(extra_context or {}), "run_actions": acts}
        if run is not None:
            extra["subtitle"] = run_label(run)  # the customer's name, not "order v1 (failed)"
        return super().change_view(request, object_id, form_url, extra)

    @admin.display(description="run", ordering="id")
    def short_id(self, obj: WorkflowRun) -> str:
        return str(obj.id)[:8]

    def get_queryset(self, request: HttpRequest) -> QuerySet[WorkflowRun]:
        return super().get_queryset(request).prefetch_related("subject")

    @admin.display(description="for")
    def subject_link(self, obj: WorkflowRun) -> SafeString | str:
        return admin_ledger.subject_link(obj.subject) if obj.subject_id else "-"

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: WorkflowRun) -> SafeString:
        return badge(obj.status, obj.get_status_display())

    @admin.display(description="steps done")
    def progress(self, obj: WorkflowRun) -> str:
        statuses = list(obj.tasks.values_list("status", flat=True))
        return f"{statuses.count(TaskStatus.SUCCEEDED)}/{len(statuses)}"

    @admin.display(description="duration")
    def duration(self, obj: WorkflowRun) -> str:
        end = obj.finished_at or clock.now()
        return f"{(end - obj.created_at).total_seconds():.1f} s"

    @admin.display(description="steps")
    def tasks_table(self, obj: WorkflowRun) -> SafeString:
        return SafeString(render_to_string("admin/orchestration/task_rows.html", {"tasks": obj.tasks.all()}))

    @admin.display(description="operator acts")
    def acts(self, obj: WorkflowRun) -> str:
        rows = obj.operator_actions.all()
        return "; ".join(f"{a.at:%Y-%m-%d %H:%M:%S} {a.actor_label} {a.get_verb_display()}" for a in rows) or "-"

    @admin.display(description="input")
    def input_block(self, obj: WorkflowRun) -> SafeString:
        return pretty_json(obj.input)

    def _replay(self, request: HttpRequest, queryset: QuerySet, mode: str, title: str) -> TemplateResponse | None:
        from_step = request.POST.get("from_step") or None
        actor = services.Actor.of_user(request.user)

        def act(run: WorkflowRun) -> str:
            allowed = services.run_can_replay(run, mode=mode) is None
            steps = services.replay_plan(run, mode=mode, from_step=from_step) if allowed else []
            services.run_replay(run=run, actor=actor, mode=mode, from_step=from_step)
            return f"{title}: steps {', '.join(steps)}"

        choices = None
        if mode == "step":
            choices = sorted({s["name"] for run in queryset for s in run.definition.get("steps", [])})
            from_step = from_step or (choices[0] if choices else None)
        return confirmed_act(
            self,
            request,
            queryset,
            title=title,
            plan=lambda run: replay_plan(run, mode, from_step),
            act=act,
            step_choices=choices,
        )

    @admin.action(description="Replay from the failed steps", permissions=["act"])
    def replay_failed(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        return self._replay(request, queryset, "failed", "Replay from the failed steps")

    @admin.action(description="Replay from scratch", permissions=["act"])
    def replay_scratch(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        return self._replay(request, queryset, "scratch", "Replay from scratch")

    @admin.action(description="Replay from a chosen step", permissions=["act"])
    def replay_from_step(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        return self._replay(request, queryset, "step", "Replay from a chosen step")

    @admin.action(description="Cancel runs", permissions=["act"])
    def cancel_runs(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        actor = services.Actor.of_user(request.user)

        def plan(run: WorkflowRun) -> Plan:
            if refusal := services.run_can_cancel(run):
                return [], refusal
            return list(run.tasks.filter(status__in=UNFINISHED).values_list("step", flat=True)), ""

        def act(run: WorkflowRun) -> str:
            services.run_cancel(run=run, actor=actor, reason="from the admin")
            return "Cancelled the run"

        return confirmed_act(self, request, queryset, title="Cancel runs", plan=plan, act=act)


# --- Tasks, attempts, operator acts --------------------------------------------------------


@admin.register(Task)
class TaskAdmin(ActPermissionMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "run_link", "step", "action", "status_badge", "attempts", "run_after", "short_error")
    list_filter = ("status", "action", "run__workflow")
    search_fields: tuple[str, ...] = ("=id", "=run__id", "action", "step", "last_error")
    date_hierarchy = "created_at"
    list_select_related = ("run",)
    actions = ("retry_now",)
    fields = (
        ("status_badge", "attempts", "action", "step", "run_link"),
        ("run_after", "started_at", "finished_at", "timeout_seconds"),
        ("priority", "needs", "claimed_by", "lease_expires_at"),
        "last_error",
        "input_block",
        "output_block",
        "progress_block",
        "cursor_block",
    )
    readonly_fields = tuple(name for row in fields for name in (row if isinstance(row, tuple) else (row,)))

    @admin.display(description="run")
    def run_link(self, obj: Task) -> SafeString | str:
        return admin_link(obj.run, str(obj.run_id)[:8]) if obj.run_id else "-"

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Task) -> SafeString:
        return badge(obj.status, obj.get_status_display())

    @admin.display(description="attempt")
    def attempts(self, obj: Task) -> str:
        # Within the current set (a replay or a retry starts a fresh one, numbered on from the last).
        overall = f" (#{obj.attempt} overall)" if obj.attempt_base else ""
        return f"{obj.attempts_spent}/{obj.max_attempts}{overall}"

    @admin.display(description="last error")
    def short_error(self, obj: Task) -> str:
        return obj.last_error[:100]

    @admin.display(description="input")
    def input_block(self, obj: Task) -> SafeString:
        return pretty_json(obj.input)

    @admin.display(description="output")
    def output_block(self, obj: Task) -> SafeString:
        return pretty_json(obj.output)

    @admin.display(description="progress")
    def progress_block(self, obj: Task) -> SafeString:
        return pretty_json(obj.progress)

    @admin.display(description="checkpoint")
    def cursor_block(self, obj: Task) -> SafeString:
        return pretty_json(obj.cursor)

    @admin.action(description="Retry now", permissions=["act"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        actor = services.Actor.of_user(request.user)

        def plan(task: Task) -> Plan:
            if refusal := services.task_can_retry(task):
                return [], refusal
            return [task.step or task.action], ""

        def act(task: Task) -> str:
            services.task_retry(task=task, actor=actor)
            return "Retried now"

        return confirmed_act(self, request, queryset.select_related("run"), title="Retry now", plan=plan, act=act)


@admin.register(AgentRun)
class AgentRunAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "action", "task_link", "attempt", "outcome_badge", "started_at", "duration_ms", "worker")
    list_filter = ("outcome", "action")
    search_fields = ("=task__id", "=run__id", "action", "error", "worker")
    date_hierarchy = "started_at"
    list_select_related = ("task",)
    readonly_fields = [f.name for f in AgentRun._meta.fields]

    @admin.display(description="task")
    def task_link(self, obj: AgentRun) -> SafeString:
        return admin_link(obj.task, f"#{obj.task_id} {obj.task.step}")

    @admin.display(description="outcome", ordering="outcome")
    def outcome_badge(self, obj: AgentRun) -> SafeString:
        return badge(obj.outcome, obj.get_outcome_display())


@admin.register(OperatorAction)
class OperatorActionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("at", "actor_label", "verb", "run", "task")
    list_filter = ("verb", "actor_label")
    search_fields = ("actor_label", "=run__id", "=task__id")
    date_hierarchy = "at"
    readonly_fields = [f.name for f in OperatorAction._meta.fields]
