"""Actions: the code a task runs, registered by name ("agent.action").

Every action has one shape, `(ctx: TaskContext) -> dict | Continue`: it returns
its output (JSON-serialisable), or `Continue(cursor)` to checkpoint a long step
and go on in the next invocation as the same attempt. It raises `RetryableError` or
`PermanentError` to say how it failed; any other exception counts as retryable.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestration import clock
from orchestration.exceptions import PermanentError, UnknownAction


@dataclass(frozen=True)
class Continue:
    """Returned by an action that checkpointed: run me again from `cursor`."""

    cursor: Any
    progress: dict[str, Any] | None = None


@dataclass
class TaskContext:
    task_id: int
    action: str
    attempt: int
    input: dict[str, Any]
    # Outputs of the steps this one needs, by step name.
    inputs: dict[str, Any]
    cursor: Any
    # Stable across the attempts of one task (and new after a replay): give it to
    # external APIs so a retried side effect happens once.
    idempotency_key: str
    # Monotonic deadline: the invocation's budget or the lease, whichever ends first.
    deadline: float
    run_id: str | None = None
    project_id: str | None = None
    step: str = ""
    heartbeat: Callable[[], bool] = field(default=lambda: True)
    report_progress: Callable[[dict[str, Any]], None] = field(default=lambda progress: None)

    def time_left(self) -> float:
        return self.deadline - clock.monotonic()


Action = Callable[[TaskContext], "dict[str, Any] | Continue"]

_actions: dict[str, Action] = {}


def action(name: str) -> Callable[[Action], Action]:
    """Register the decorated function as the action `name`."""
    if "." not in name:
        raise ValueError(f"Action names are 'agent.action', got {name!r}")

    def register(func: Action) -> Action:
        existing = _actions.get(name)
        if existing is not None and existing is not func:
            raise ValueError(f"Action {name!r} is already registered by {existing.__module__}.{existing.__qualname__}")
        _actions[name] = func
        return func

    return register


def checked_result(result: Any) -> dict[str, Any] | Continue:
    """An action's result as the engine can store it; output the database cannot hold is a
    bug in the action that no retry fixes."""
    if isinstance(result, Continue):
        return result
    try:
        json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise PermanentError(f"The action returned output that cannot be stored as JSON: {exc}") from exc
    return result


def get_action(name: str) -> Action:
    try:
        return _actions[name]
    except KeyError:
        raise UnknownAction(f"No action is registered as {name!r}") from None


def registered_actions() -> list[str]:
    return sorted(_actions)
