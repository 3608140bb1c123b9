"""Revisions: after delivery the customer asks for changes; a revision run designs, builds, deploys
and tells them, while the current site stays live until the new version is deployed.

`ORDER_REVISIONS_INCLUDED` (2) rounds are included; one runs at a time. A revision that failed or
was cancelled does not count against the customer.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction

from orchestration import clock, dispatch
from orchestration.models import RunStatus, TaskStatus, WorkflowRun
from orchestration.services import run_start
from orders import notices
from orders.brief import _printable
from orders.exceptions import RevisionRefused
from orders.models import Project, ProjectStatus, Revision, RevisionStatus
from orders.services import ORDER_WORKFLOW_NAME

logger = logging.getLogger("orders")

REVISION_WORKFLOW = "revision"
MAX_FEEDBACK = 2000
UNDER_WAY = (RevisionStatus.REQUESTED, RevisionStatus.IN_PROGRESS)
COUNTED = (*UNDER_WAY, RevisionStatus.LIVE)


def revisions_left(project: Project) -> int:
    used = project.revisions.filter(status__in=COUNTED).count()
    return max(0, settings.ORDER_REVISIONS_INCLUDED - used)


def revision_request(*, project: Project, feedback: str) -> Revision:
    """Record the customer's change request and start its run (one at a time, within the rounds included).

    Control characters, lone surrogates and noncharacters are dropped first, as from a brief: a NUL would
    be a 500 on PostgreSQL (which cannot store it), and none of them belongs in a page or an email.
    """
    feedback = _printable(str(feedback))
    text = " ".join(line.strip() for line in feedback.split("\n") if line.strip())
    if not text:
        raise RevisionRefused("empty", "Say what to change.")
    if len(feedback) > MAX_FEEDBACK:
        raise RevisionRefused("too_long", f"At most {MAX_FEEDBACK} characters.")
    with transaction.atomic():
        locked = Project.objects.select_for_update().get(id=project.id)
        if locked.status != ProjectStatus.DELIVERED:
            raise RevisionRefused("not_delivered", f"Order {locked.reference} is {locked.status}, not delivered.")
        if locked.revisions.filter(status__in=UNDER_WAY).exists():
            raise RevisionRefused("revision_in_progress", "A revision is already under way.")
        if revisions_left(locked) <= 0:
            raise RevisionRefused("no_revisions_left", "Every included revision has been used.")
        number = locked.revisions.count() + 1
        revision = Revision.objects.create(project=locked, number=number, feedback=str(feedback).strip())
        run = run_start(
            workflow=REVISION_WORKFLOW,
            project=locked,
            input={"project_id": str(locked.id), "revision_id": revision.id},
            idempotency_key=f"revision:{locked.id}:{number}",
        )
        Revision.objects.filter(id=revision.id).update(run=run)
        revision.refresh_from_db()
        dispatch.kick_on_commit(run.id)
    logger.info(
        "revision requested",
        extra={"action": "revision_request", "project_id": str(locked.id), "run_id": str(run.id)},
    )
    return revision


_REVISION_STATUS_OF_RUN = {
    RunStatus.RUNNING: RevisionStatus.IN_PROGRESS,
    RunStatus.SUCCEEDED: RevisionStatus.LIVE,
    RunStatus.FAILED: RevisionStatus.FAILED,
    RunStatus.CANCELLED: RevisionStatus.CANCELLED,
}


def revision_on_run_status(run: WorkflowRun) -> None:
    """The revision workflow's hook (inside the run's transaction): the revision follows its run.
    The project stays delivered throughout: its current site is live the whole time. A revision that
    failed for good emails the customer (once) that their site is unchanged and our team will write."""
    revision_id = (run.input or {}).get("revision_id")
    status = _REVISION_STATUS_OF_RUN[RunStatus(run.status)]
    updates: dict[str, Any] = {"status": status}
    if status == RevisionStatus.LIVE:
        updates["live_at"] = run.finished_at or clock.now()
    Revision.objects.filter(id=revision_id).update(**updates)
    if status == RevisionStatus.FAILED and revision_id is not None:
        # After the commit, like a failed order's: the customer hears once that the change is held up.
        transaction.on_commit(lambda: notices.notify_revision_failed(revision_id=revision_id))


def current_design_output(project: Project) -> dict[str, Any] | None:
    """The design step's output of the version now live: the latest live revision's, else the order's."""
    live = project.revisions.filter(status=RevisionStatus.LIVE, run__isnull=False).order_by("-number").first()
    runs = [live.run_id] if live is not None else []
    order_run = (
        project.runs.filter(workflow=ORDER_WORKFLOW_NAME, status=RunStatus.SUCCEEDED).order_by("-created_at").first()
    )
    if order_run is not None:
        runs.append(order_run.id)
    for run_id in runs:
        task = WorkflowRun.objects.get(id=run_id).tasks.filter(step="design", status=TaskStatus.SUCCEEDED).first()
        if task is not None and isinstance(task.output, dict) and task.output.get("pages"):
            return task.output
    return None
