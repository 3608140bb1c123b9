"""Reads on orders: progress and timings, for the API, the status page and the admin."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.contrib.contenttypes.models import ContentType
from django.db.models import QuerySet
from django.urls import reverse

from orchestration import clock
from orchestration.models import TaskStatus, WorkflowRun
from orders.models import Project, ProjectStatus


def projects_visible_to(user: AbstractBaseUser | AnonymousUser | None) -> QuerySet[Project]:
    """The projects `user` may see over the API: every one for active staff, else their own
    (the ones their token or session created). Anyone else sees none: an unknown id and
    another customer's id look the same (404), so ids cannot be probed."""
    if user is None or not user.is_authenticated or not user.is_active:
        return Project.objects.none()
    if user.is_staff:
        return Project.objects.all()
    return Project.objects.filter(owner=user)


def status_url(project: Project) -> str:
    """The customer's status page, absolute (emails, Checkout's success_url)."""
    return f"{settings.SITE_URL}{reverse('status-page', args=[project.status_token])}"


def project_latest_run(project: Project) -> WorkflowRun | None:
    """The project's latest run other than its revisions' (those are shown with each revision)."""
    return project.runs.exclude(workflow="revision").order_by("-created_at").first()


def project_progress(project: Project) -> dict[str, int]:
    """{"done": steps succeeded, "total": steps} of the latest run (0/0 before payment)."""
    run = project_latest_run(project)
    if run is None:
        return {"done": 0, "total": 0}
    statuses = list(run.tasks.values_list("status", flat=True))
    return {"done": sum(s == TaskStatus.SUCCEEDED for s in statuses), "total": len(statuses)}


def project_elapsed_seconds(project: Project) -> float | None:
    """Seconds from payment to delivery (or to now while it is under way)."""
    if project.paid_at is None:
        return None
    end = project.delivered_at or clock.now()
    return (end - project.paid_at).total_seconds()


def project_timing(project: Project) -> dict[str, Any]:
    elapsed = project_elapsed_seconds(project)
    slo = settings.ORDER_SLO_SECONDS
    # Late: still under way past the SLO, or delivered after it. A failed or cancelled order
    # is not "late" (its clock would run for ever); staff find it under failed instead.
    counts = project.status in (ProjectStatus.PAID, ProjectStatus.IN_PROGRESS, ProjectStatus.DELIVERED)
    return {"elapsed_seconds": elapsed, "slo_seconds": slo, "late": counts and elapsed is not None and elapsed > slo}


STEP_LABELS = {
    "fr": {
        "setup": "Paiement reçu, brief vérifié",
        "design": "Design et rédaction des pages",
        "build": "Construction du site",
        "campaign": "Campagne Google Ads",
        "deploy": "Mise en ligne",
        "notify": "Vous êtes prévenu(e)",
    },
    "en": {
        "setup": "Payment received, brief checked",
        "design": "Design and page copy",
        "build": "Building the site",
        "campaign": "Google Ads campaign",
        "deploy": "Going live",
        "notify": "You are told",
    },
}


def project_status_view(project: Project) -> dict[str, Any]:
    """Everything the customer's status page shows, as JSON-ready data."""
    run = project_latest_run(project)
    labels = STEP_LABELS.get(project.language, STEP_LABELS["en"])
    steps = []
    if run is not None:
        order = [s["name"] for s in run.definition.get("steps", [])]
        tasks = {t.step: t for t in run.tasks.all()}
        for name in order:
            task = tasks.get(name)
            steps.append(
                {
                    "name": name,
                    "label": labels.get(name, name),
                    "status": task.status if task else "waiting",
                    "progress": task.progress if task else None,
                }
            )
    timing = project_timing(project)
    return {
        "status": project.status,
        "status_label": project.get_status_display(),
        "progress": project_progress(project),
        "steps": steps,
        "elapsed_seconds": timing["elapsed_seconds"],
        "slo_seconds": timing["slo_seconds"],
        "site_url": project.site_url or None,
        "business_name": project.business_name,
    }


def project_id_of_run(run: WorkflowRun) -> uuid.UUID | None:
    """The id of the order a run is for: its subject's when that subject is a project, else None.

    The engine's subject is a content type and an id: an id alone may be another model's (the
    same UUID), and must never move, refund or show an order."""
    if run.subject_id is None or run.subject_type_id != ContentType.objects.get_for_model(Project).pk:
        return None
    return run.subject_id


def project_of_run(run: WorkflowRun) -> Project | None:
    """The order a run is for (its subject, if that is a project), or None."""
    project_id = project_id_of_run(run)
    return Project.objects.filter(pk=project_id).first() if project_id is not None else None
