"""The engine's fault seam: before each attempt the executor asks `fault_hook()` for a hook to call
just before the action runs. It is None unless ENGINE_FAULTS holds a fault plan (load tests only):
production pays one cached check per attempt, and imports nothing of the load test.

The plan and its faults are the load test's (loadtest/faults.py); the engine knows them only by
the dotted path in engine_settings.FAULT_INJECTOR (ORCHESTRATION["FAULT_INJECTOR"]), a callable
that takes the plan's JSON and returns the hook. The hook may raise (the attempt fails as its action would have), sleep
past the step's timeout, drop the database connection, or SIGKILL the process.
"""

from __future__ import annotations

import functools
from typing import Protocol

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from orchestration.conf import engine_settings


class FaultHook(Protocol):
    def __call__(self, *, task_id: int, attempt: int, max_attempts: int, timeout_left: float | None) -> None: ...


@functools.cache
def fault_hook() -> FaultHook | None:
    """The fault hook for this process, built once (None outside load tests)."""
    text = engine_settings.FAULTS
    if not text:
        return None
    path = engine_settings.FAULT_INJECTOR
    if not path:
        raise ImproperlyConfigured('ENGINE_FAULTS holds a fault plan, but ORCHESTRATION["FAULT_INJECTOR"] is not set')
    return import_string(path)(text)


def _forget_hook(*, setting: str, **_: object) -> None:
    # A new plan (override_settings in a test, a load test's settings) is read afresh.
    if setting == "ORCHESTRATION":
        fault_hook.cache_clear()


setting_changed.connect(_forget_hook, dispatch_uid="orchestration.faults.forget_hook")
