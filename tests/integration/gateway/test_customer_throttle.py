"""The customer's public pages (status page, its feed, published sites) are rate limited per client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.throttling import SimpleRateThrottle

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_per_minute(settings: Any) -> Iterator[None]:
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "customer": "2/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    original = SimpleRateThrottle.THROTTLE_RATES
    SimpleRateThrottle.THROTTLE_RATES = rates  # DRF reads the rates once, at import
    cache.clear()
    try:
        yield
    finally:
        SimpleRateThrottle.THROTTLE_RATES = original
        cache.clear()


@pytest.mark.parametrize("path", ["/status/no-such-token/", "/status/no-such-token/feed.json", "/sites/nobody/"])
def test_a_client_past_the_rate_gets_429_with_retry_after(two_per_minute: None, path: str, caplog) -> None:
    client = Client(REMOTE_ADDR="203.0.113.7")
    assert [client.get(path).status_code for _ in range(2)] == [404, 404]
    third = client.get(path)
    assert third.status_code == 429
    assert 1 <= int(third["Retry-After"]) <= 60
    assert any(getattr(r, "action", "") == "throttled" for r in caplog.records)
    assert Client(REMOTE_ADDR="198.51.100.9").get(path).status_code == 404, "another client is not affected"
