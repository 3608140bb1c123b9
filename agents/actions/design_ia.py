"""design-ia: the design spec, then the copy of every page, one page per chunk (E8)."""

from __future__ import annotations

from typing import Any

from agents.actions.common import brief_of, project_of, provider_errors
from agents.copywriting import OfflineCopywriter, validate_page_copy
from agents.design import generate_design
from agents.providers.llm import get_llm_copywriter
from orchestration.exceptions import PermanentError
from orchestration.registry import Continue, TaskContext, action

# A page from a remote model can take this long; checkpoint rather than start one we cannot finish.
SECONDS_PER_REMOTE_PAGE = 20.0
SECONDS_PER_OFFLINE_PAGE = 1.0


@action("design-ia.generate")
def generate(ctx: TaskContext) -> dict[str, Any] | Continue:
    project = project_of(ctx)
    brief = brief_of(project)
    cursor = ctx.cursor or {}
    design = cursor.get("design") or generate_design(brief)
    pages: list[dict[str, Any]] = list(cursor.get("pages") or [])
    remote = get_llm_copywriter()
    writer = remote or OfflineCopywriter()
    per_page = SECONDS_PER_REMOTE_PAGE if remote else SECONDS_PER_OFFLINE_PAGE
    titles = list(brief.pages)
    while len(pages) < len(titles):
        if pages and ctx.time_left() < per_page:
            return Continue(
                cursor={"design": design, "pages": pages}, progress={"done": len(pages), "total": len(titles)}
            )
        index = len(pages)
        with provider_errors():
            copy = writer.write_page(
                brief=brief,
                design=design,
                page=titles[index],
                index=index,
                idempotency_key=f"{ctx.idempotency_key}:page{index}",
            )
        try:
            pages.append(validate_page_copy(copy))
        except ValueError as exc:
            raise PermanentError(f"Copy for page {titles[index]!r} is malformed: {exc}") from exc
        ctx.report_progress({"done": len(pages), "total": len(titles)})
    return {"design": design, "pages": pages, "copywriter": "llm" if remote else "offline"}
