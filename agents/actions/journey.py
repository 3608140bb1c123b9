"""The customer's journey after the order: a revision run's steps, and the refund of a cancelled order.

The revision workflow is its own definition (not a version of the order's): design with the
customer's feedback, then the order's own build and deploy actions, then tell the customer.
Deploying is the only step that touches the live site, so the current version stays up until
the new one replaces it.
"""

from __future__ import annotations

from typing import Any

from agents.actions.common import brief_of, project_of, status_url
from agents.revision import apply_feedback
from agents.side_effects import perform_once
from agents.workflow import LOCAL, REMOTE
from orchestration.exceptions import PermanentError, RetryableError
from orchestration.models import OperatorAction
from orchestration.registry import TaskContext, action
from orchestration.workflows import Step, Workflow, register_workflow
from orders.exceptions import RefundNotConfirmed, RefundRefused
from orders.mail import order_context, send_email
from orders.models import Project, Refund, Revision
from orders.refunds import refund_request
from orders.revisions import REVISION_WORKFLOW, current_design_output, revisions_left

REVISION = register_workflow(
    Workflow(
        name=REVISION_WORKFLOW,
        version=1,
        on_finish="orders.revisions.revision_on_run_status",
        steps=(
            Step("design", "design-ia.revise", timeout_seconds=60, retry=LOCAL, priority=5),
            Step("build", "automation.build", needs=("design",), timeout_seconds=50, retry=LOCAL),
            Step("deploy", "automation.deploy", needs=("build",), timeout_seconds=230, retry=REMOTE),
            Step("notify", "core-platform.revision-live", needs=("deploy", "design"), timeout_seconds=30, retry=LOCAL),
        ),
    )
)


def _revision_of(ctx: TaskContext) -> Revision:
    revision = Revision.objects.filter(id=ctx.input.get("revision_id")).first()
    if revision is None:
        raise PermanentError(f"Task {ctx.task_id} names no existing revision ({ctx.input.get('revision_id')!r})")
    return revision


@action("design-ia.revise")
def revise(ctx: TaskContext) -> dict[str, Any]:
    project = project_of(ctx)
    revision = _revision_of(ctx)
    base = current_design_output(project)
    if base is None:
        raise PermanentError(f"Project {project.id} has no delivered design to revise")
    result = apply_feedback(feedback=revision.feedback, brief=brief_of(project), design_output=base)
    # Recorded at once: the status page says what will change (and what will not) while it is built.
    Revision.objects.filter(id=revision.id).update(applied=result.applied, not_applied=result.not_applied)
    return {**result.as_dict(), "copywriter": base.get("copywriter", "offline")}


@action("core-platform.revision-live")
def revision_live(ctx: TaskContext) -> dict[str, Any]:
    project = project_of(ctx)
    revision = _revision_of(ctx)
    design = ctx.inputs.get("design") or {}
    site_url = (ctx.inputs.get("deploy") or {}).get("url")
    if not site_url:
        raise PermanentError("The deploy step reported no URL")
    # The brief follows the live site, so the next revision starts from this version.
    renamed = design.get("renamed") or {}
    pages = [renamed.get(title, title) for title in project.pages or []]
    Project.objects.filter(id=project.id).update(
        site_url=site_url, brand_color=design.get("brand_color") or project.brand_color, pages=pages
    )
    context = {
        **order_context(project),
        "site_url": site_url,
        "status_url": status_url(project),
        "applied": design.get("applied") or [],
        "not_applied": design.get("not_applied") or [],
        # This revision is still "in progress" until the run ends, and already counted.
        "revisions_left": revisions_left(project),
    }
    perform_once(
        key=ctx.idempotency_key,
        kind="email:revision_live",
        project_id=project.id,
        ctx=ctx,
        fn=lambda: _send_revision_live(project, context),
    )
    return {"site_url": site_url, "revision": revision.number, "emailed": project.contact_email}


def _send_revision_live(project: Project, context: dict[str, Any]) -> dict[str, Any]:
    send_email("revision_live", to=project.contact_email, language=project.language, context=context)
    return {"to": project.contact_email, "kind": "revision_live"}


@action("core-platform.refund")
def refund_cancelled_order(ctx: TaskContext) -> dict[str, Any]:
    """A paid order staff cancelled before delivery: refund it, recorded with the staff who cancelled."""
    project = project_of(ctx)
    act = (
        OperatorAction.objects.filter(run_id=ctx.input.get("run_id"), verb=OperatorAction.Verb.CANCEL_RUN)
        .select_related("actor")
        .order_by("-id")
        .first()
    )
    try:
        refund = refund_request(
            project=project,
            source=Refund.Source.CANCEL,
            user=act.actor if act is not None else None,
            label=act.actor_label if act is not None else "cancel",
            reason="Cancelled by staff before delivery",
        )
    except RefundNotConfirmed as exc:
        raise RetryableError(exc.message) from exc  # the same idempotency key: the retry is the same refund
    except RefundRefused as exc:
        raise PermanentError(exc.message) from exc
    return {"refund": refund.stripe_refund_id, "status": refund.status}
