"""ads-management: a Google Ads search campaign plan and its Ads Editor CSV."""

from __future__ import annotations

from typing import Any

from agents.actions.common import brief_of, project_of, require_slug, site_base_url
from agents.ads import build_campaign, campaign_csv, campaign_summary, validate_campaign
from orchestration.exceptions import PermanentError
from orchestration.registry import TaskContext, action


@action("ads-management.campaign")
def campaign(ctx: TaskContext) -> dict[str, Any]:
    project = project_of(ctx)
    design_output = ctx.inputs.get("design") or {}
    plan = build_campaign(
        brief=brief_of(project), pages_copy=design_output.get("pages"), final_url=site_base_url(require_slug(project))
    )
    problems = validate_campaign(plan)
    if problems:
        raise PermanentError(f"The campaign breaks Google Ads limits: {'; '.join(problems)}")
    return {"campaign": plan, "csv": campaign_csv(plan), "summary": campaign_summary(plan, project.language)}
