"""Workflows the benchmarks run through our engine (loaded by workers with
ENGINE_ACTION_MODULES=benchmarks.actions): zero-work copies of real shapes."""

from __future__ import annotations

from dataclasses import replace

from agents.workflow import ORDER_WORKFLOW
from orchestration.retry import RetryPolicy
from orchestration.workflows import Step, Workflow, register_workflow

CHAIN_STEPS = 5

# A straight chain: step i needs step i-1.
CHAIN_WORKFLOW = register_workflow(
    Workflow(
        name="bench.chain",
        version=1,
        steps=tuple(
            Step(f"s{i}", "engine.noop", needs=(f"s{i - 1}",) if i else (), retry=RetryPolicy(max_attempts=1))
            for i in range(CHAIN_STEPS)
        ),
    )
)

# The order workflow's DAG, limits and status hook, every agent replaced by a no-op.
BENCH_ORDER_WORKFLOW = register_workflow(
    Workflow(
        name="bench.order",
        version=1,
        on_finish=ORDER_WORKFLOW.on_finish,
        steps=tuple(replace(step, action="engine.noop") for step in ORDER_WORKFLOW.steps),
    )
)


def critical_path_length(workflow: Workflow) -> int:
    """Steps on the longest dependency path (what one order must wait through in sequence)."""
    depth: dict[str, int] = {}
    for name in workflow.topological_order():
        step = workflow.step(name)
        depth[name] = 1 + max((depth[n] for n in step.needs), default=0)
    return max(depth.values())
