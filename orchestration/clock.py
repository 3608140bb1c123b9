"""The engine's clock, in one place so tests can move time instead of sleeping.

Wall time (`now`) stamps rows and orders the queue; monotonic time (`monotonic`)
measures budgets. Tests replace either through `orchestration.clock.set_clock`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

_now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731
_monotonic: Callable[[], float] = time.monotonic


def now() -> datetime:
    return _now()


def monotonic() -> float:
    return _monotonic()


def set_clock(*, now: Callable[[], datetime] | None = None, monotonic: Callable[[], float] | None = None) -> None:
    """Swap the clock (tests only); pass nothing to restore the real one."""
    global _now, _monotonic
    _now = now or (lambda: datetime.now(UTC))
    _monotonic = monotonic or time.monotonic
