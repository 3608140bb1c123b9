"""design-ia: the design spec, then the copy of every page, one page per chunk.

Each page is a chunk that survives a crash: it is recorded in the side-effect ledger the moment it is
written (keyed by the task's idempotency key, which every attempt of the task shares), so a retry after a
crash reads the pages already written instead of paying the model for them again. An invocation writes
pages while the time left can hold one more, then checkpoints the cursor with `Continue` and the engine
runs the same attempt on in the next invocation.
"""

from __future__ import annotations

import hashlib
from typing import Any

from agents.actions.common import brief_of, project_of, provider_errors
from agents.copywriting import Copywriter, OfflineCopywriter
from agents.design import generate_design
from agents.page_copy import validate_page_copy
from agents.providers.llm import get_llm_copywriter
from agents.side_effects import perform_once
from orchestration import clock
from orchestration.exceptions import PermanentError
from orchestration.registry import Continue, TaskContext, action
from orders.brief import Brief

# A page from a remote model can take this long; checkpoint rather than start one we cannot finish.
SECONDS_PER_REMOTE_PAGE = 20.0
SECONDS_PER_OFFLINE_PAGE = 1.0
PAGE_KIND = "copy:page"


@action("design-ia.generate")
def generate(ctx: TaskContext) -> dict[str, Any] | Continue:
    project = project_of(ctx)
    brief = brief_of(project)
    cursor = ctx.cursor if isinstance(ctx.cursor, dict) else {}
    design = cursor.get("design") or generate_design(brief)
    pages: list[dict[str, Any]] = list(cursor.get("pages") or [])
    remote = get_llm_copywriter()
    writer: Copywriter = remote or OfflineCopywriter()
    # The slowest page seen in this invocation is a better guess than the constant once there is one.
    estimate = SECONDS_PER_REMOTE_PAGE if remote else SECONDS_PER_OFFLINE_PAGE
    titles = list(brief.pages)
    written_here = 0
    while len(pages) < len(titles):
        # At least one page per invocation, so a step always moves forward even on a short budget.
        if written_here and ctx.time_left() < estimate:
            return Continue(
                cursor={"design": design, "pages": pages}, progress={"done": len(pages), "total": len(titles)}
            )
        index = len(pages)
        started = clock.monotonic()
        pages.append(_page_once(ctx, project_id=project.id, writer=writer, brief=brief, design=design, index=index))
        written_here += 1
        estimate = max(estimate, clock.monotonic() - started)
        ctx.report_progress({"done": len(pages), "total": len(titles)})
    return {"design": design, "pages": pages, "copywriter": "llm" if remote else "offline"}


def _page_once(
    ctx: TaskContext, *, project_id: Any, writer: Copywriter, brief: Brief, design: dict[str, Any], index: int
) -> dict[str, Any]:
    """The copy of page `index`, written at most once per task: a later attempt reads it back from the ledger."""
    title = brief.pages[index]
    # The title is part of the key, so a ledger entry can only ever stand for the page it was written for.
    digest = hashlib.sha256(title.encode()).hexdigest()[:12]
    key = f"{ctx.idempotency_key}:page{index}:{digest}"

    def write() -> dict[str, Any]:
        with provider_errors():
            copy = writer.write_page(brief=brief, design=design, page=title, index=index, idempotency_key=key)
        try:
            # Checked before it is recorded: malformed copy must not be read back as a finished page.
            return validate_page_copy(copy)
        except ValueError as exc:
            raise PermanentError(f"Copy for page {title!r} is malformed: {exc}") from exc

    return perform_once(key=key, kind=PAGE_KIND, project_id=project_id, ctx=ctx, fn=write)
