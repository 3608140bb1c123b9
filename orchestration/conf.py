"""The engine's settings, read through one defaults object: `engine_settings.LEASE_SECONDS`.

As REST framework's `api_settings` does for REST_FRAMEWORK: each key of the project's
`settings.ORCHESTRATION` overrides the default of the same name in DEFAULTS; a value is read,
converted and cached on first use, and the cache is dropped whenever Django's `setting_changed`
signal says ORCHESTRATION changed (override_settings, pytest-django's `settings` fixture).
config/settings.py fills ORCHESTRATION from the environment (the ENGINE_* variables, README
"Configuration") and only with the variables that are set; orchestration/checks.py reports a
bad value at start-up (`manage.py check`, `orchestration.E001`...).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

from orchestration.exceptions import InvalidLimits
from orchestration.limits import NO_LIMITS, ConcurrencyLimits, parse_limits

SETTINGS_NAME = "ORCHESTRATION"

DEFAULTS: dict[str, Any] = {
    # How attempts run: "inline" (the engine runs actions in-process) or "http" (signed POST to the agent routes).
    "DISPATCH_MODE": "inline",
    # Seconds of an entry point's time budget kept in reserve: claiming stops when less remain.
    "SAFETY_MARGIN_SECONDS": 10.0,
    # Seconds a claim's lease lasts (renewed until the step's timeout): a dead worker's task is recovered after it.
    "LEASE_SECONDS": 20.0,
    # How many tasks one claim takes at a time (fewer round trips; see orchestration/queue.py).
    "CLAIM_BATCH_SIZE": 10,
    # Whether the queue's statements are prepared on the connection (off behind a pooler without support).
    "PREPARE": True,
    # Whether Postgres is sent NOTIFY when work becomes ready (works through PgBouncer; LISTEN does not).
    "NOTIFY": True,
    # Seconds between polls of a worker with nothing to do when LISTEN is unavailable.
    "POLL_INTERVAL_SECONDS": 1.0,
    # A fault-injection plan as JSON (loadtest/faults.py), "" for none: load tests only, never production.
    "FAULTS": "",
    # The dotted path of what turns that plan into the executor's fault hook (orchestration/faults.py),
    # read only when FAULTS is set; the project names its own (config/settings.py: the load test's).
    "FAULT_INJECTOR": "",
    # Extra modules imported at start-up so that they register actions (like Celery's `imports`).
    "ACTION_MODULES": (),
    # Whether a commit that made work ready POSTs /api/workflows/execute (on Vercel nothing runs after a response).
    "KICK": False,
    # HTTP dispatch: whether agents answer 202 and call back later (always-on hosts, not Vercel) or with the result.
    "HTTP_RESPOND_ASYNC": False,
    # Attempts that may run at once per concurrency key (limits.py): 50 orders stay within the design-AI and ads APIs.
    "CONCURRENCY_LIMITS": "design-ia=8,ads-management=8",
    # Seconds a pending side effect is held at least by the attempt performing it (orchestration/side_effects.py).
    "EFFECT_HOLD_SECONDS": 300.0,
}


def as_limits(value: str | Mapping[str, Any] | ConcurrencyLimits | None) -> ConcurrencyLimits:
    """CONCURRENCY_LIMITS as the claim uses them: a spec (text or dict) parsed, parsed limits as given."""
    if isinstance(value, ConcurrencyLimits):
        return value
    if not value:
        return NO_LIMITS
    if not isinstance(value, str | Mapping):
        raise InvalidLimits(f"expected 'key=limit,...' text or a dict, got {type(value).__name__}")
    return parse_limits(value)


# How a value from ORCHESTRATION becomes what the engine uses (a key not named here is used as given).
CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "SAFETY_MARGIN_SECONDS": float,
    "LEASE_SECONDS": float,
    "CLAIM_BATCH_SIZE": int,
    "PREPARE": bool,
    "NOTIFY": bool,
    "POLL_INTERVAL_SECONDS": float,
    "KICK": bool,
    "HTTP_RESPOND_ASYNC": bool,
    "CONCURRENCY_LIMITS": as_limits,
    "EFFECT_HOLD_SECONDS": float,
}


class EngineSettings:
    """The engine's settings as attributes: the project's value if ORCHESTRATION has one, else the default.

    A value that cannot be converted raises (ValueError, TypeError, InvalidLimits) when it is read;
    the system checks read every one at start-up, so a process with one never starts work.
    """

    def __init__(self, defaults: Mapping[str, Any] | None = None) -> None:
        self._defaults = dict(DEFAULTS if defaults is None else defaults)
        # A worker's heartbeat thread reads settings while a test's override_settings reloads
        # them: a value read before a reload must not be cached after it.
        self._lock = threading.Lock()
        self._generation = 0

    @property
    def user_settings(self) -> Mapping[str, Any]:
        """What the project sets (settings.ORCHESTRATION), read afresh each time."""
        return getattr(settings, SETTINGS_NAME, None) or {}

    @property
    def defaults(self) -> Mapping[str, Any]:
        return self._defaults

    def __getattr__(self, name: str) -> Any:
        # Only called for what is not cached yet; private names never reach the settings.
        if name.startswith("_") or name not in self._defaults:
            raise AttributeError(f"{SETTINGS_NAME} has no engine setting {name!r}")
        generation = self._generation
        value = self.user_settings.get(name, self._defaults[name])
        convert = CONVERTERS.get(name)
        if convert is not None:
            value = convert(value)
        with self._lock:
            if generation == self._generation:
                self.__dict__[name] = value
        return value

    def reload(self) -> None:
        """Forget every cached value: the next read sees settings.ORCHESTRATION as it is now."""
        with self._lock:
            self._generation += 1
            for name in self._defaults:
                self.__dict__.pop(name, None)


engine_settings = EngineSettings()


def reload_engine_settings(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTINGS_NAME:
        engine_settings.reload()


setting_changed.connect(reload_engine_settings)
