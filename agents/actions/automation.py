"""automation: render the static site into storage, then publish it (local or Vercel)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from agents.actions.common import brief_of, project_of, provider_errors, require_slug, site_base_url
from agents.providers.deploy import get_deploy_provider
from agents.side_effects import perform_once
from agents.site import render_site, site_manifest
from orchestration.exceptions import PermanentError, RetryableError
from orchestration.registry import TaskContext, action
from orders.models import Project


@action("automation.build")
def build(ctx: TaskContext) -> dict[str, Any]:
    project = project_of(ctx)
    slug = require_slug(project)
    design_output = ctx.inputs.get("design") or {}
    if not design_output.get("pages"):
        raise PermanentError("The design step produced no pages")
    files = render_site(
        brief=brief_of(project),
        design=design_output["design"],
        pages=design_output["pages"],
        base_url=site_base_url(slug),
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
