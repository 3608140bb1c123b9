"""Retry as data: the backoff schedule, tested as a table."""

from __future__ import annotations

import random

import pytest

from agents.providers import http as provider_http
from orchestration import dispatch
from orchestration.retry import RetryPolicy, is_retryable_status

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


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        # Success, redirects and client errors that fail the same way again.
        *[(200, False), (202, False), (302, False), (400, False), (401, False), (403, False), (404, False)],
        *[(409, False), (410, False), (413, False), (422, False), (499, False)],
        # Client errors that may not happen again: a timeout, too early, too many requests.
        *[(408, True), (425, True), (429, True)],
        # Outages and overloads, and any other server error.
        *[(500, True), (502, True), (503, True), (504, True), (507, True), (599, True)],
        # Server errors that never heal: not implemented, HTTP version not supported.
        *[(501, False), (505, False)],
        # Not an HTTP status at all.
        *[(0, False), (600, False)],
    ],
)
def test_which_http_answers_are_worth_another_try(status: int, retryable: bool) -> None:
    assert is_retryable_status(status) is retryable


def test_the_engine_and_the_providers_share_the_status_rule() -> None:
    assert dispatch.is_retryable_status is provider_http.is_retryable_status is is_retryable_status
