"""The engine's public API, importable from one place:

    from orchestration import action, TaskContext, enqueue, run_start, RetryPolicy

Every name here is loaded on first use (PEP 562), not when the package is imported: Django
imports this package while it loads the apps, before models may be imported.
Anything not listed is the engine's own and may change.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# name -> the module that defines it
_EXPORTS = {
    # defining work
    "action": "orchestration.registry",
    "TaskContext": "orchestration.registry",
    "Continue": "orchestration.registry",
    "Step": "orchestration.workflows",
    "Workflow": "orchestration.workflows",
    "register_workflow": "orchestration.workflows",
    "RetryPolicy": "orchestration.retry",
    # queueing it
    "enqueue": "orchestration.services",
    "enqueue_many": "orchestration.services",
    "run_start": "orchestration.services",
    # an operator's acts, and whether they are allowed (the refusal, in words, or None)
    "Actor": "orchestration.services",
    "run_cancel": "orchestration.services",
    "run_replay": "orchestration.services",
    "task_retry": "orchestration.services",
    "run_can_cancel": "orchestration.rules",
    "run_can_replay": "orchestration.rules",
    "task_can_retry": "orchestration.rules",
    # what an action raises to say how it failed
    "RetryableError": "orchestration.exceptions",
    "PermanentError": "orchestration.exceptions",
    "OrchestrationError": "orchestration.exceptions",
    # what the engine announces (orchestration.signals)
    "signals": "orchestration.signals",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'orchestration' has no attribute {name!r}")
    value = import_module(module) if module.endswith("." + name) else getattr(import_module(module), name)
    globals()[name] = value  # found once: the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
