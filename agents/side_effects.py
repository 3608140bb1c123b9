"""The side-effect ledger, as the agents use it: the engine's (`orchestration.side_effects`), with
the order a side effect is for named by its project's id.

    from agents.side_effects import perform_once

    perform_once(ctx=ctx, key=ctx.idempotency_key, kind="deploy", fn=publish, project_id=project.id)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestration import side_effects
from orchestration.registry import TaskContext
from orchestration.side_effects import effect_hold_seconds
from orders.models import Project

__all__ = ["effect_hold_seconds", "perform_once"]


def perform_once(
    *, ctx: TaskContext, key: str, kind: str, fn: Callable[[], dict[str, Any]], project_id: Any = None
) -> dict[str, Any]:
    """`fn()`'s result, performing it unless this task already did (`key`, `kind`); the ledger row
    names the project `project_id`, if given, as its subject."""
    subject = Project(pk=project_id) if project_id is not None else None
    return side_effects.perform_once(ctx=ctx, key=key, kind=kind, fn=fn, subject=subject)
