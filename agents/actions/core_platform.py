"""core-platform: validate the brief and greet the customer; announce the live site."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from agents.actions.common import brief_data, project_of, status_url
from agents.ads import campaign_summary
from agents.side_effects import perform_once
from orchestration.exceptions import PermanentError, RetryableError
from orchestration.registry import TaskContext, action
from orders.brief import random_slug_suffix, slugify_business, validate_brief
from orders.mail import campaign_terms, order_context, send_email
from orders.models import Project

# Readable variants first (`name-2` ... `name-9`), then a random suffix: a slug never fails an order.
MAX_NUMBERED_SLUGS = 9
MAX_RANDOM_SLUG_TRIES = 20


@action("core-platform.setup")
def setup(ctx: TaskContext) -> dict[str, Any]:
    project = project_of(ctx)
    errors = validate_brief(brief_data(project))
    if errors:
        listed = "; ".join(f"{field}: {', '.join(msgs)}" for field, msgs in sorted(errors.items()))
        raise PermanentError(f"The brief is invalid: {listed}", detail={"errors": errors})
    slug = project.slug or fix_slug(project)
    link = status_url(project)
    perform_once(
        key=ctx.idempotency_key,
        kind="email:payment_received",
        project_id=project.id,
        ctx=ctx,
        fn=lambda: _send(project, "payment_received", {"status_url": link}),
    )
    return {"slug": slug, "status_url": link}


def fix_slug(project: Project) -> str:
    """Give the project a unique slug once; a retry keeps the one it got.

    The name's slug if free, else the first free `-2` ... `-9` variant, else `<slug>-<6 random
    characters>`: a thousand bakeries called the same never run out (the old numbered-only scheme
    failed the 51st order for good). The unique constraint decides races between two setups.
    """
    base = slugify_business(project.business_name, project.city)
    taken = set(Project.objects.filter(slug__startswith=base).values_list("slug", flat=True))
    numbered = [base, *(f"{base[:57]}-{n}" for n in range(2, MAX_NUMBERED_SLUGS + 1))]
    randomised = (f"{base[:53]}-{random_slug_suffix()}" for _ in range(MAX_RANDOM_SLUG_TRIES))
    for candidate in (*(c for c in numbered if c not in taken), *randomised):
        try:
            with transaction.atomic():
                if Project.objects.filter(id=project.id, slug__isnull=True).update(slug=candidate):
                    return candidate
        except IntegrityError:  # taken by another project meanwhile: try the next one
            continue
        project.refresh_from_db(fields=["slug"])
        return project.slug or candidate
    # 20 random 6-character suffixes all taken: not a fact about the brief; a retry draws again.
    raise RetryableError(f"No free slug for {base!r} after {MAX_RANDOM_SLUG_TRIES} random suffixes")


@action("core-platform.notify")
def notify(ctx: TaskContext) -> dict[str, Any]:
    project = project_of(ctx)
    deploy = ctx.inputs.get("deploy") or {}
    campaign = ctx.inputs.get("campaign") or {}
    site_url = deploy.get("url")
    if not site_url:
        raise PermanentError("The deploy step reported no URL")
    summary = campaign.get("summary") or campaign_summary(campaign.get("campaign") or {}, project.language)
    context = {
        "site_url": site_url,
        "status_url": status_url(project),
        "campaign_summary": summary,
        **campaign_terms(campaign.get("campaign") or {}, project.language),
    }
    perform_once(
        key=ctx.idempotency_key,
        kind="email:site_live",
        project_id=project.id,
        ctx=ctx,
        fn=lambda: _send(project, "site_live", context),
    )
    Project.objects.filter(id=project.id).update(site_url=site_url)
    return {"site_url": site_url, "emailed": project.contact_email}


def _send(project: Project, kind: str, context: dict[str, Any]) -> dict[str, Any]:
    full = {**order_context(project), "project": project, **context}
    send_email(kind, to=project.contact_email, language=project.language, context=full)
    return {"to": project.contact_email, "kind": kind}
