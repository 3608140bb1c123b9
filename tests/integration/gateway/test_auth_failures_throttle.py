"""Rejected credentials count against the client's address: guessing tokens (or the cron secret) gets 429.

DRF authenticates before it throttles, so 200 POST /api/projects/ with random bad tokens were 200 free 401s.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from tests.conftest import FakeClock
from tests.integration.gateway.conftest import BRIEF, CRON_SECRET, assert_error

pytestmark = pytest.mark.django_db
RATE = 5


@pytest.fixture
def five_failures_a_minute(settings: Any) -> Iterator[None]:
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "auth_failures": f"{RATE}/min"}
    original = SimpleRateThrottle.THROTTLE_RATES
    SimpleRateThrottle.THROTTLE_RATES = rates  # DRF reads the rates once, at import
    cache.clear()
    try:
        yield
    finally:
        SimpleRateThrottle.THROTTLE_RATES = original
        cache.clear()


def _post_with(token: str, **extra: str) -> Any:
    client = APIClient(REMOTE_ADDR="203.0.113.5")
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}", **extra)
    return client.post("/api/projects/", json.dumps(BRIEF), content_type="application/json")


def test_the_default_rate_turns_200_guessed_tokens_into_429s() -> None:
    statuses = [_post_with(secrets.token_hex(20)).status_code for _ in range(200)]

    assert set(statuses[:20]) == {401}
    assert set(statuses[20:]) == {429}


def test_guessed_tokens_past_the_rate_get_429_with_retry_after(five_failures_a_minute: None) -> None:
    responses = [_post_with(secrets.token_hex(20)) for _ in range(RATE + 3)]

    assert [r.status_code for r in responses] == [401] * RATE + [429] * 3
    error = assert_error(responses[-1], 429, "throttled")
    assert error["detail"]["retry_after_seconds"] <= 60
    assert 1 <= int(responses[-1]["Retry-After"]) <= 60


def test_rotating_x_forwarded_for_does_not_reset_the_count(five_failures_a_minute: None) -> None:
    statuses = [_post_with("bad", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").status_code for n in range(RATE + 2)]

    assert statuses == [401] * RATE + [429] * 2


def test_past_the_rate_even_a_valid_token_from_that_address_gets_429_so_a_guess_learns_nothing(
    five_failures_a_minute: None, integration_client: APIClient
) -> None:
    token = integration_client._credentials["HTTP_AUTHORIZATION"].split()[1]
    for _ in range(RATE):
        assert _post_with("wrong").status_code == 401

    assert _post_with(token).status_code == 429
    elsewhere = APIClient(REMOTE_ADDR="192.0.2.44")
    elsewhere.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert elsewhere.post("/api/projects/", BRIEF, format="json").status_code == 201, "another address is not affected"


def test_valid_tokens_are_not_counted(five_failures_a_minute: None, integration_client: APIClient) -> None:
    token = integration_client._credentials["HTTP_AUTHORIZATION"].split()[1]
    client = APIClient(REMOTE_ADDR="203.0.113.5")
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    assert [client.get("/api/projects/").status_code for _ in range(RATE + 3)] == [200] * (RATE + 3)


def test_the_count_is_per_window_and_a_client_may_try_again_later(
    five_failures_a_minute: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(SimpleRateThrottle, "timer", lambda self: clock.monotonic())
    for _ in range(RATE):
        assert _post_with("wrong").status_code == 401
    assert _post_with("wrong").status_code == 429

    clock.advance(61)
    assert _post_with("wrong").status_code == 401


def test_guessing_the_cron_secret_gets_429_and_the_real_one_works_elsewhere(five_failures_a_minute: None) -> None:
    guesser = APIClient(REMOTE_ADDR="203.0.113.9")
    statuses = [
        guesser.get("/api/orchestration/workflow", HTTP_AUTHORIZATION=f"Bearer {secrets.token_hex(8)}").status_code
        for _ in range(RATE + 2)
    ]

    assert statuses == [401] * RATE + [429] * 2
    cron = APIClient(REMOTE_ADDR="192.0.2.1")
    assert cron.get("/api/orchestration/workflow", HTTP_AUTHORIZATION=f"Bearer {CRON_SECRET}").status_code == 200
