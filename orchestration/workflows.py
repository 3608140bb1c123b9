"""Workflows as code: a DAG of steps, each an agent.action with its limits.

A definition is validated when it is registered (unknown dependencies, cycles,
duplicate names), and a run stores the definition it started with, so a later
version never changes a run already under way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestration.exceptions import InvalidLimits, InvalidWorkflow
from orchestration.limits import check_template
from orchestration.retry import RetryPolicy


@dataclass(frozen=True)
class Step:
    name: str
    action: str
    needs: tuple[str, ...] = ()
    timeout_seconds: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    priority: int = 0
    # Which concurrency limit the step's attempts count against: a template of
    # {agent}, {action}, {run} and {project}; see orchestration/limits.py.
    concurrency_key: str = "{agent}"

    @property
    def max_attempts(self) -> int:
        return self.retry.max_attempts

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "action": self.action,
            "needs": list(self.needs),
            "timeout_seconds": self.timeout_seconds,
            "retry": self.retry.as_dict(),
            "priority": self.priority,
            "concurrency_key": self.concurrency_key,
        }


@dataclass(frozen=True)
class Workflow:
    name: str
    version: int
    steps: tuple[Step, ...]
    # Dotted path of `f(run) -> None`, called in the transaction that ends a run.
    on_finish: str = ""
    # Fail-fast: once the run fails for good, its queued and waiting steps are cancelled
    # and its running ones fenced off (their reports recorded, never applied); a replay or a
    # retry queues them again. Off: sibling branches of a dead step run on to their end.
    fail_fast: bool = False

    def __post_init__(self) -> None:
        names = [s.name for s in self.steps]
        if not names:
            raise InvalidWorkflow(f"Workflow {self.name!r} has no steps")
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise InvalidWorkflow(f"Workflow {self.name!r} repeats steps {sorted(duplicates)}")
        for step in self.steps:
            unknown = set(step.needs) - set(names)
            if unknown:
                raise InvalidWorkflow(f"Step {step.name!r} of {self.name!r} needs unknown steps {sorted(unknown)}")
            try:
                check_template(step.concurrency_key)
            except InvalidLimits as exc:
                raise InvalidWorkflow(f"Step {step.name!r} of {self.name!r}: {exc}") from None
        self.topological_order()  # raises on a cycle

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise InvalidWorkflow(f"Workflow {self.name!r} has no step {name!r}")

    def topological_order(self) -> list[str]:
        return topological_order({s.name: list(s.needs) for s in self.steps}, label=self.name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "on_finish": self.on_finish,
            "fail_fast": self.fail_fast,
            "steps": [s.as_dict() for s in self.steps],
        }


def topological_order(needs: dict[str, list[str]], *, label: str = "workflow") -> list[str]:
    """Kahn's algorithm; raises InvalidWorkflow naming the steps caught in a cycle."""
    remaining = {name: set(deps) for name, deps in needs.items()}
    order: list[str] = []
    while remaining:
        ready = sorted(name for name, deps in remaining.items() if not deps)
        if not ready:
            raise InvalidWorkflow(f"{label!r} has a cycle through {sorted(remaining)}")
        for name in ready:
            order.append(name)
            del remaining[name]
        for deps in remaining.values():
            deps.difference_update(ready)
    return order


def downstream_of(needs: dict[str, list[str]], roots: set[str]) -> set[str]:
    """The roots and every step that depends on them, directly or not."""
    found = set(roots)
    changed = True
    while changed:
        changed = False
        for name, deps in needs.items():
            if name not in found and found.intersection(deps):
                found.add(name)
                changed = True
    return found


_workflows: dict[tuple[str, int], Workflow] = {}


def register_workflow(workflow: Workflow) -> Workflow:
    key = (workflow.name, workflow.version)
    existing = _workflows.get(key)
    if existing is not None and existing != workflow:
        raise InvalidWorkflow(f"Workflow {workflow.name!r} version {workflow.version} is already registered")
    _workflows[key] = workflow
    return workflow


def unregister_workflow(name: str, version: int) -> None:
    """Forget one registered version (tests that register a newer one and clean up)."""
    _workflows.pop((name, version), None)


def get_workflow(name: str, version: int | None = None) -> Workflow:
    """The given version, or the latest registered one."""
    if version is not None:
        try:
            return _workflows[(name, version)]
        except KeyError:
            raise InvalidWorkflow(f"No workflow {name!r} version {version}") from None
    versions = [v for (n, v) in _workflows if n == name]
    if not versions:
        raise InvalidWorkflow(f"No workflow named {name!r}")
    return _workflows[(name, max(versions))]
