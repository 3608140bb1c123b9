"""Retry as data: the backoff schedule, tested as a table (E5)."""

from __future__ import annotations

import random

import pytest

from orchestration.retry import RetryPolicy

POLICY = RetryPolicy(max_attempts=8, base_seconds=2, factor=2, cap_seconds=60, jitter=0.5)


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [
        (1, 1.0, 2.0),
        (2, 2.0, 4.0),
        (3, 4.0, 8.0),
        (4, 8.0, 16.0),
        (5, 16.0, 32.0),
        (6, 30.0, 60.0),  # 64 s capped at 60
        (7, 30.0, 60.0),
    ],
)
def test_attempt_n_waits_within_its_jittered_bounds(attempt: int, low: float, high: float) -> None:
    assert POLICY.bounds(attempt) == (low, high)
    rng = random.Random(attempt)
    delays = [POLICY.next_delay(attempt, rng=rng) for _ in range(500)]
    assert all(low <= d <= high for d in delays)
    assert max(delays) - min(delays) > (high - low) * 0.5, "jitter spreads the retries"


def test_wait_never_exceeds_the_cap() -> None:
    rng = random.Random(0)
    assert all(POLICY.next_delay(n, rng=rng) <= 60 for n in range(1, 8) for _ in range(100))


def test_after_the_last_attempt_there_is_no_next() -> None:
    assert POLICY.next_delay(8) is None
    assert RetryPolicy(max_attempts=1).next_delay(1) is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"factor": 0.5}, "factor"),
        ({"jitter": 1.5}, "jitter"),
        ({"base_seconds": -1}, "base_seconds"),
    ],
)
def test_a_nonsensical_policy_is_refused_by_name(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**kwargs)


def test_policy_round_trips_through_json() -> None:
    assert RetryPolicy.from_dict(POLICY.as_dict()) == POLICY
    assert RetryPolicy.from_dict(POLICY.as_dict(), max_attempts=2).max_attempts == 2
