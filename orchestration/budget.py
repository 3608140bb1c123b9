"""Time budgets: every entry point works inside its function's maxDuration
minus a safety margin, and stops claiming before the budget runs out."""

from __future__ import annotations

from dataclasses import dataclass

from orchestration import clock
from orchestration.conf import engine_settings


@dataclass(frozen=True)
class Budget:
    deadline: float  # on the engine's monotonic clock

    @classmethod
    def seconds(cls, seconds: float) -> Budget:
        return cls(deadline=clock.monotonic() + seconds)

    @classmethod
    def for_function(cls, max_duration: float) -> Budget:
        """The budget of a serverless function allowed `max_duration` seconds."""
        return cls.seconds(budget_seconds_for(max_duration))

    def remaining(self) -> float:
        return self.deadline - clock.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0


def budget_seconds_for(max_duration: float) -> float:
    """maxDuration minus the safety margin, never less than a fifth of it."""
    margin = engine_settings.SAFETY_MARGIN_SECONDS
    return max(max_duration - margin, max_duration * 0.2)
