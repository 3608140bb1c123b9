"""Actions the engine ships: generic work any Django code can enqueue."""

from __future__ import annotations

from typing import Any

from orchestration.registry import TaskContext, action


@action("engine.noop")
def noop(ctx: TaskContext) -> dict[str, Any]:
    """Does nothing and succeeds: measures the engine's own overhead (benchmarks, health)."""
    return {}


@action("engine.echo")
def echo(ctx: TaskContext) -> dict[str, Any]:
    """Returns its input and the outputs it was given: wires workflows together in tests and demos."""
    return {"input": ctx.input, "inputs": ctx.inputs, "attempt": ctx.attempt}
