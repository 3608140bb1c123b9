"""Retry as data: a frozen policy, a pure "when next, or never" function, and which HTTP
answers are worth another try (the engine calling an agent route, a provider calling an
external API: one rule for both)."""

from __future__ import annotations

import random
from dataclasses import dataclass, fields
from typing import Any

# Answers that may succeed later: a timeout, "too early", "too many requests". Every other 4xx
# (a bad request, a refused signature, a missing route) fails the same way again.
RETRYABLE_CLIENT_STATUSES = frozenset({408, 425, 429})
# Server errors that never heal by themselves: the server does not implement the method, or
# the protocol version. Every other 5xx (500, 502, 503, 504...) is an outage or an overload.
PERMANENT_SERVER_STATUSES = frozenset({501, 505})


def is_retryable_status(status: int) -> bool:
    """True for an HTTP answer that may succeed if the same request is sent again later."""
    if status in RETRYABLE_CLIENT_STATUSES:
        return True
    return 500 <= status <= 599 and status not in PERMANENT_SERVER_STATUSES


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter and a cap.

    Attempt n (1-based) that failed waits `min(cap, base * factor ** (n - 1))`,
    reduced by up to `jitter` of itself at random, so that many tasks failing at
    once do not come back at once. The wait never exceeds the cap.
    """

    max_attempts: int = 3
    base_seconds: float = 2.0
    factor: float = 2.0
    cap_seconds: float = 300.0
    jitter: float = 0.5  # fraction of the delay that may be taken off at random

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.base_seconds < 0 or self.cap_seconds < 0:
            raise ValueError("base_seconds and cap_seconds must not be negative")
        if self.factor < 1:
            raise ValueError(f"factor must be at least 1, got {self.factor}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be between 0 and 1, got {self.jitter}")

    def bounds(self, attempt: int) -> tuple[float, float]:
        """The (shortest, longest) wait after failed attempt `attempt`."""
        longest = min(self.cap_seconds, self.base_seconds * self.factor ** max(attempt - 1, 0))
        return longest * (1 - self.jitter), longest

    def next_delay(self, attempt: int, *, rng: random.Random | None = None) -> float | None:
        """Seconds to wait before the next attempt, or None when `attempt` was the last."""
        if attempt >= self.max_attempts:
            return None
        low, high = self.bounds(attempt)
        return (rng or random).uniform(low, high)

    def as_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it deep-copies every value, and a run start calls this twice
        # per step (the task row and the stored definition); the fields are all numbers.
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, *, max_attempts: int | None = None) -> RetryPolicy:
        values = dict(data or {})
        if max_attempts is not None:
            values["max_attempts"] = max_attempts
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})
