"""automation: render the static site into storage, then publish it (local or Vercel)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from agents.actions.common import brief_of, project_of, provider_errors, require_slug, site_base_url
from agents.providers.deploy import get_deploy_provider
from agents.side_effects import perform_once
from agents.site import image_paths, render_site, site_manifest
from agents.site_ui import VERCEL_HOST
from orchestration.exceptions import PermanentError, RetryableError
from orchestration.registry import TaskContext, action
from orders.media import site_image_files
from orders.models import Project


@action("automation.build")
def build(ctx: TaskContext) -> dict[str, Any]:
    project = project_of(ctx)
    slug = require_slug(project)
    design_output = ctx.inputs.get("design") or {}
    if not design_output.get("pages"):
        raise PermanentError("The design step produced no pages")
    brief = brief_of(project)
    try:
        images = {}
        for _ref, prefix in image_paths(brief).values():
            images.update(site_image_files(_ref, prefix=prefix))
    except FileNotFoundError as exc:
        raise PermanentError(f"An uploaded image of the brief is missing from storage: {exc}") from exc
    files = render_site(
        brief=brief,
        design=design_output["design"],
        pages=design_output["pages"],
        base_url=site_base_url(slug),
        # The form posts to the product wherever the site is deployed (agents/contact.py takes it).
        contact_action=f"{settings.SITE_URL}/sites/{slug}/contact",
        host=hosting_provider(),
        images=images,
        retention_days=settings.CONTACT_RETENTION_DAYS,
    )
    # Content-addressed: a retry writes the same files to the same place.
    digest = hashlib.sha256(json.dumps(site_manifest(files), sort_keys=True).encode()).hexdigest()[:16]
    root = f"builds/{slug}/{digest}"
    for path, content in files.items():
        target = f"{root}/{path}"
        if default_storage.exists(target):
            default_storage.delete(target)
        saved = default_storage.save(target, ContentFile(content))
        if saved != target:
            # save() never overwrites: a concurrent build took the name first. The root is content-addressed,
            # so its bytes are these bytes; our copy under another name is only clutter.
            default_storage.delete(saved)
    return {"root": root, "files": sorted(files), "manifest": site_manifest(files)}


def hosting_provider() -> dict[str, str]:
    """Who hosts the published site, for its legal notice: Vercel, or the operator of the local provider."""
    if settings.DEPLOY_PROVIDER == "vercel":
        return dict(VERCEL_HOST)
    return {
        "name": settings.LEGAL_HOST_NAME,
        "address": settings.LEGAL_HOST_ADDRESS,
        "contact": settings.LEGAL_HOST_CONTACT,
    }


@action("automation.deploy")
def deploy(ctx: TaskContext) -> dict[str, Any]:
    project = project_of(ctx)
    slug = require_slug(project)
    built = ctx.inputs.get("build") or {}
    root, paths = built.get("root"), built.get("files") or []
    if not root or not paths:
        raise PermanentError("The build step produced no files")
    files = {}
    for path in paths:
        try:
            with default_storage.open(f"{root}/{path}", "rb") as fh:
                files[path] = fh.read()
        except FileNotFoundError as exc:
            raise PermanentError(f"Built file {path!r} is missing from storage") from exc
    provider = get_deploy_provider()

    def publish() -> dict[str, Any]:
        with provider_errors():
            result = provider.deploy(slug=slug, files=files, idempotency_key=ctx.idempotency_key)
        if not result.ready:
            # The provider keeps building; the retry finds this deployment by its key.
            raise RetryableError(f"Deployment {result.deployment_id} is not ready yet")
        return {"url": result.url, "deployment_id": result.deployment_id, "provider": result.provider}

    outcome = perform_once(key=ctx.idempotency_key, kind="deploy", project_id=project.id, ctx=ctx, fn=publish)
    Project.objects.filter(id=project.id).update(site_url=outcome["url"])
    return outcome
