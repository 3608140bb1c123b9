"""System checks of the engine's settings (`manage.py check`, tag `orchestration`).

runserver, migrate, run_worker, tick and the other management commands run them before
doing anything: a bad value is an Error and the command refuses to start, naming the
environment variable. gunicorn and Vercel's runtime run no system checks, so config/wsgi.py
calls `refuse_bad_settings()`, which raises instead, before the first request.
"""

from __future__ import annotations

import math
from typing import Any

from django.core.checks import CheckMessage, Error, Warning, register, run_checks
from django.core.exceptions import ImproperlyConfigured

from orchestration.conf import DEFAULTS, SETTINGS_NAME, as_limits, engine_settings
from orchestration.exceptions import InvalidLimits

TAG = "orchestration"
DISPATCH_MODES = ("inline", "http")

# The environment variable config/settings.py reads each checked setting from, for the messages.
VARIABLES = {
    "DISPATCH_MODE": "DISPATCH_MODE",
    "SAFETY_MARGIN_SECONDS": "ENGINE_SAFETY_MARGIN_SECONDS",
    "LEASE_SECONDS": "ENGINE_LEASE_SECONDS",
    "CLAIM_BATCH_SIZE": "ENGINE_CLAIM_BATCH_SIZE",
    "POLL_INTERVAL_SECONDS": "ENGINE_POLL_INTERVAL_SECONDS",
    "CONCURRENCY_LIMITS": "ENGINE_CONCURRENCY_LIMITS",
}

# The numbers the engine cannot work with below a bound: (converter, bound, whether the bound itself is allowed).
# A lease or poll interval of 0 would expire every claim at once or spin; a batch of 0 would claim nothing.
NUMBERS: dict[str, tuple[type, float, bool]] = {
    "LEASE_SECONDS": (float, 0, False),
    "POLL_INTERVAL_SECONDS": (float, 0, False),
    "CLAIM_BATCH_SIZE": (int, 1, True),
    "SAFETY_MARGIN_SECONDS": (float, 0, True),
    "EFFECT_HOLD_SECONDS": (float, 0, True),
}


def _value(name: str) -> Any:
    """The setting as configured now (never a cached value: a check must see what a new process would)."""
    return engine_settings.user_settings.get(name, DEFAULTS[name])


def _named(name: str) -> str:
    variable = VARIABLES.get(name)
    return f"{variable} ({SETTINGS_NAME}[{name!r}])" if variable else f"{SETTINGS_NAME}[{name!r}]"


@register(TAG)
def dispatch_mode_is_known(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    mode = _value("DISPATCH_MODE")
    if mode in DISPATCH_MODES:
        return []
    return [
        Error(
            f"{_named('DISPATCH_MODE')} must be 'inline' or 'http', got {mode!r}.",
            hint="'inline' runs the agents' actions in the engine's process, 'http' posts them to the agent routes.",
            id="orchestration.E001",
        )
    ]


@register(TAG)
def concurrency_limits_parse(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    try:
        as_limits(_value("CONCURRENCY_LIMITS"))
    except InvalidLimits as exc:
        return [
            Error(
                f"{_named('CONCURRENCY_LIMITS')} is invalid: {exc}.",
                hint="Comma-separated 'key=limit' entries, each limit a whole number of at least 1, "
                "a trailing '*' for each key of a prefix: e.g. 'design-ia=8,project:*=2'.",
                id="orchestration.E002",
            )
        ]
    return []


@register(TAG)
def numbers_in_range(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for name, (kind, bound, inclusive) in NUMBERS.items():
        raw = _value(name)
        try:
            number = kind(raw)
        except (TypeError, ValueError):
            number = math.nan
        if math.isnan(number) or number < bound or (number == bound and not inclusive):
            what = "a whole number" if kind is int else "a number of seconds"
            limit = f"at least {bound:g}" if inclusive else f"above {bound:g}"
            errors.append(Error(f"{_named(name)} must be {what} {limit}, got {raw!r}.", id="orchestration.E003"))
    return errors


@register(TAG)
def no_unknown_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    unknown = sorted(str(name) for name in engine_settings.user_settings if name not in DEFAULTS)
    if not unknown:
        return []
    return [
        Warning(
            f"{SETTINGS_NAME} has settings the engine does not know, and ignores: {', '.join(unknown)}.",
            hint=f"Its settings are {', '.join(DEFAULTS)} (orchestration/conf.py).",
            id="orchestration.W001",
        )
    ]


@register(TAG, deploy=True)
def no_fault_plan_in_production(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """`check --deploy` (what a production deployment is checked with): a fault plan makes the
    engine fail, hang and kill attempts on purpose, for load tests only."""
    if not engine_settings.FAULTS:
        return []
    return [
        Error(
            "ENGINE_FAULTS holds a fault plan: the engine would fail, hang and kill attempts on purpose.",
            hint="Unset ENGINE_FAULTS; it is for `manage.py loadtest` and its workers only.",
            id="orchestration.E004",
        )
    ]


def refuse_bad_settings() -> None:
    """Raise ImproperlyConfigured when an engine check fails with an Error, for the entry points
    that run no system checks (WSGI): such a process must not start work with a bad value."""
    errors = [m for m in run_checks(tags=[TAG]) if m.is_serious() and not m.is_silenced()]
    if errors:
        raise ImproperlyConfigured(" ".join(f"({m.id}) {m.msg}" for m in errors))
