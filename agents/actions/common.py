"""What every agent action needs: its project, its brief, provider errors mapped to the engine's."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

from agents.providers.deploy import production_host
from agents.providers.errors import ProviderError
from orchestration.exceptions import PermanentError, RetryableError
from orchestration.registry import TaskContext
from orders.brief import Brief, brief_data
from orders.models import Project


def project_of(ctx: TaskContext) -> Project:
    project_id = ctx.input.get("project_id")
    project = Project.objects.filter(id=project_id).first() if project_id else None
    if project is None:
        raise PermanentError(f"Task {ctx.task_id} names no existing project (project_id={project_id!r})")
    return project


def brief_of(project: Project) -> Brief:
    return Brief.from_dict(brief_data(project))


def status_url(project: Project) -> str:
    return f"{settings.SITE_URL}/status/{project.status_token}/"


def site_base_url(slug: str) -> str:
    """Where the site will live once deployed (sitemap and Open Graph need absolute URLs)."""
    if settings.DEPLOY_PROVIDER == "vercel":
        # The same production domain the Vercel provider returns and stores as the project's site URL.
        return f"https://{production_host(settings.VERCEL_PROJECT or slug)}/"
    return f"{settings.SITE_URL}/sites/{slug}/"


@contextmanager
def provider_errors() -> Iterator[None]:
    """A provider's own error classes become the engine's retryable / permanent errors."""
    _translates_errors = True  # core.tracebacks.TRANSLATOR_MARK: its errors are grouped at the caller
    try:
        yield
    except ProviderError as exc:
        if exc.retryable:
            raise RetryableError(str(exc)) from exc
        raise PermanentError(str(exc)) from exc


def require_slug(project: Project) -> str:
    if not project.slug:
        raise PermanentError(f"Project {project.id} has no slug: the setup step did not run")
    return project.slug
