"""The context an action runs with (TaskContext), built one way on every path.

Inline, the executor builds it from the claimed attempt (`context_of_claim`). Over HTTP the
engine builds the same context and sends its fields in the dispatch request
(`context_as_request`); the agent route builds it back from them (`context_of_request`). The
two ends of that mapping sit side by side, so a field added to the context travels both ways.
Each caller wires the heartbeat and progress reports of its own path.
"""

from __future__ import annotations

from typing import Any

from orchestration.models import Task
from orchestration.queue import ClaimedTask
from orchestration.registry import TaskContext


def dependency_outputs(task: ClaimedTask) -> dict[str, Any]:
    """The outputs of the steps `task` needs, by step name: read by the claim when it could, else now."""
    if task.inputs is not None:
        return task.inputs
    if not task.run_id or not task.needs:
        return {}
    return dict(Task.objects.filter(run_id=task.run_id, step__in=task.needs).values_list("step", "output"))


def context_of_claim(task: ClaimedTask, *, deadline: float) -> TaskContext:
    """The context of a claimed attempt that must finish by `deadline` (monotonic seconds)."""
    return TaskContext(
        task_id=task.id,
        action=task.action,
        attempt=task.attempt,
        input=task.input,
        inputs=dependency_outputs(task),
        cursor=task.cursor,
        idempotency_key=task.idempotency_key,
        deadline=deadline,
        run_id=task.run_id,
        project_id=task.input.get("project_id") if isinstance(task.input, dict) else None,
        step=task.step,
    )


def context_as_request(ctx: TaskContext) -> dict[str, Any]:
    """The context's fields as the dispatch request carries them (the deadline goes as seconds left)."""
    return {
        "taskId": ctx.task_id,
        "attempt": ctx.attempt,
        "runId": ctx.run_id,
        "projectId": ctx.project_id,
        "step": ctx.step,
        "action": ctx.action,
        "input": ctx.input,
        "inputs": ctx.inputs,
        "cursor": ctx.cursor,
        "idempotencyKey": ctx.idempotency_key,
    }


def context_of_request(request: dict[str, Any], *, deadline: float) -> TaskContext:
    """The context of a dispatch request (already verified), to finish by `deadline` (monotonic).

    Only taskId, attempt and action are required; every other field has a default.
    """
    task_id = int(request["taskId"])
    return TaskContext(
        task_id=task_id,
        action=request["action"],
        attempt=int(request["attempt"]),
        input=request.get("input") or {},
        inputs=request.get("inputs") or {},
        cursor=request.get("cursor"),
        idempotency_key=str(request.get("idempotencyKey") or f"task:{task_id}"),
        deadline=deadline,
        run_id=request.get("runId"),
        project_id=request.get("projectId"),
        step=str(request.get("step") or ""),
    )
