"""The engine's clock, in one place so tests can move time instead of sleeping.

Wall time (`now`) stamps rows and orders the queue; monotonic time (`monotonic`)
measures budgets. Tests replace either through `orchestration.clock.set_clock`.

Leases are another matter: across worker hosts and serverless functions the one
clock every party shares is the database's, so on Postgres lease expiry, renewals,
recovery and due times are computed in SQL with the database's `now()`
(orchestration/queue_shared.py, `lease_now`), never with a host's clock. A test that sets a
clock here moves those too (the fake time is passed to SQL instead); on SQLite the
host's clock is the database's (a file on that host, shared by every process).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime


def _real_now() -> datetime:
    return datetime.now(UTC)


_now: Callable[[], datetime] = _real_now
_monotonic: Callable[[], float] = time.monotonic


def now() -> datetime:
    return _now()


def monotonic() -> float:
    return _monotonic()


def is_real() -> bool:
    """Whether wall time is the host's own (no test replaced it)."""
    return _now is _real_now


def set_clock(*, now: Callable[[], datetime] | None = None, monotonic: Callable[[], float] | None = None) -> None:
    """Swap the clock (tests only); pass nothing to restore the real one."""
    global _now, _monotonic
    _now = now or _real_now
    _monotonic = monotonic or time.monotonic
